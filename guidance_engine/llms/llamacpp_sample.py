"""One sample of a LlamaCpp gen as it streams: tokens in, value, stop and chunks out.

llama.cpp reports each token it chose (its id, with the model's own log-probabilities); a
`Sample` takes them one by one and decides what the value is, exactly as the Transformers
backend does for its own tokens: the healed prefix is removed, stop strings and stop regexes
are found by the package's `StopScanner` (text that could still become one is held back from
the chunks), and a constrained value replays the tokens through a `Matcher` of the same spec
llama.cpp enforced, which splits the value from the stop that ended it::

    sample = Sample(request, 0, on_chunk, heal=b" ", max_tokens=8, spec=spec, matcher=m,
                    end_ids={2}, index=index)
    sample.take(token_id, entry)   # True once the sample is finished (stop it on the server)
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from typing import Any

from guidance_engine.constraints import ConstraintSpec, Matcher, TokenIndex
from guidance_engine.constraints.regex import full_match
from guidance_engine.llms.base import ChunkCallback, FinishReason, GenRequest, TokenLogprob
from guidance_engine.llms.marks import MarkKind
from guidance_engine.llms.stops import StopScanner


@dataclass
class Sample:
    """The state of one sample (see the module docstring)."""

    request: GenRequest
    index_in_request: int
    on_chunk: ChunkCallback | None
    heal: bytes  # text backed up by healing; the first tokens re-produce it
    max_tokens: int
    spec: ConstraintSpec
    matcher: Matcher | None
    end_ids: set[int]
    index: TokenIndex
    ids: list[int] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)
    text: str = ""  # the value so far: healed prefix removed, stop text cut off
    full: str = ""  # all generated text, healed prefix removed (stops not cut)
    emitted: int = 0  # characters of `text` already streamed
    finish: FinishReason | None = None
    stop_text: str = ""
    complete: bool = False  # a constrained value is complete
    logprobs: list[TokenLogprob] = field(default_factory=list)
    marks: list[tuple[MarkKind, int, int]] = field(default_factory=list)
    decoded: int = 0  # bytes of `raw` after the healed prefix that `full` holds
    scan_from: int = 0  # where `scanner`'s text starts
    scanner: StopScanner = field(init=False)
    decoder: codecs.IncrementalDecoder = field(init=False)

    def __post_init__(self) -> None:
        self.scanner = StopScanner(self.request.stop, self.request.stop_regex)
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def take(self, token: int, entry: dict[str, Any]) -> bool:
        """Add the token llama.cpp chose (`entry`: its logprobs record); True when finished."""
        healing_only = not self.ids and self.index.token_bytes(token) == self.heal != b""
        if self.request.logprobs is not None and not healing_only:
            self._record_logprob(entry)
        self.ids.append(token)
        if token in self.end_ids:
            self.finish = "eos"
        else:
            if self.matcher is not None:
                self.matcher.consume(token)
            start = len(self.raw)
            self.raw += self.index.token_bytes(token)
            if start < len(self.heal):
                self.marks.append(("healed", start, len(self.raw)))
            self._update_text()
        if self.finish is None and len(self.ids) >= self.max_tokens:
            self.finish = "length"
        self._settle_complete()
        self._emit()
        return self.finish is not None

    def end(self, reason: str | None) -> None:
        """llama.cpp ended the sample by itself: an end token ("stop") or its token budget."""
        if self.finish is None:
            self.finish = "length" if reason == "length" else "eos"
            self._settle_complete()
            self._emit()

    def _settle_complete(self) -> None:
        if self.matcher is not None and self.spec.constrained:
            self.complete = self.matcher.is_accepting() or self.finish in ("stop", "constraint")

    def _read_new_text(self) -> str:
        start = len(self.heal) + self.decoded
        if len(self.raw) <= start:
            return ""
        data = bytes(self.raw[start:])
        self.decoded += len(data)
        delta = self.decoder.decode(data)
        self.full += delta
        return delta

    def _update_text(self) -> None:
        self.scanner.feed(self._read_new_text())
        matcher, spec = self.matcher, self.spec
        if matcher is not None and spec.constrained:
            self.text = self.full
            self._constrained_stop()
            if self.finish is None and matcher.is_finished():
                result = matcher.result()
                self.text, self.stop_text = result.value, result.stop_text
                self.finish = "stop" if result.stop_text else "constraint"
            return
        if matcher is not None and matcher.is_free():
            self.matcher = None  # the healed prefix is produced
        if self.scanner.stopped:
            self.text, self.stop_text = self.scanner.text, self.scanner.stop_text
            self.finish = "stop"
        else:
            self.text = self.full

    def _constrained_stop(self) -> None:
        """Stops are part of the constraint's grammar; the first stop at which the value is
        already a full match of a pattern ends it (the Transformers backend's rule)."""
        pattern = self.spec.pattern
        while self.scanner.stopped:
            end = self.scan_from + len(self.scanner.text)
            if pattern is not None and full_match(pattern, self.full[:end]):
                self.text, self.stop_text = self.full[:end], self.scanner.stop_text
                self.finish = "stop"
                return
            self.scan_from = end + 1
            self.scanner = StopScanner(self.request.stop, self.request.stop_regex)
            self.scanner.feed(self.full[self.scan_from:])

    def _emit(self) -> None:
        upto = len(self.text)
        if self.finish is None:
            upto -= self.scanner.holding()
        if upto > self.emitted and self.on_chunk is not None:
            self.on_chunk(self.index_in_request, self.text[self.emitted:upto])
        self.emitted = max(self.emitted, upto)

    def _record_logprob(self, entry: dict[str, Any]) -> None:
        top = self.request.logprobs or 0
        alternatives = entry.get("top_logprobs") or []
        self.logprobs.append(TokenLogprob(
            str(entry.get("token", "")), float(entry.get("logprob", 0.0)),
            tuple((str(alt.get("token", "")), float(alt.get("logprob", 0.0)))
                  for alt in alternatives[:top]),
        ))
