"""One sample of a local gen as its tokens arrive: the text, its stop and its chunks, written once
for every in-process backend (Transformers' decode loop, LlamaCpp's token stream).

A backend hands each chosen token to `SampleState.append` with its bytes. The state removes the
healed prefix, decodes UTF-8 incrementally (a character split across tokens waits for its last
byte), finds stop strings and stop regexes with the package's `StopScanner` (text that could
still become one is held back from the chunks), lets a constraint's matcher end a constrained
value (splitting it from the stop that ended it), and streams what is settled::

    state = SampleState(request, 0, on_chunk, heal=b" ", max_tokens=8)
    state.append(token, index.token_bytes(token), is_end=token in end_ids)
    state.finish, state.text, state.stop_text      # once finished
    gen_result([state], stats)                     # the GenResult of finished samples
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass, field

from guidance_engine.constraints import ConstraintSpec, Matcher, incomplete_output_error
from guidance_engine.constraints.regex import full_match
from guidance_engine.llms.base import (
    ChunkCallback,
    FinishReason,
    GenRequest,
    GenResult,
    GenStats,
    TokenLogprob,
)
from guidance_engine.llms.marks import MarkKind, value_marks
from guidance_engine.llms.stops import StopScanner


@dataclass
class SampleState:
    """The state of one sample (see the module docstring); `sample` is its index in the
    request's n samples, `heal` the text healing backed up (the first tokens re-produce it)."""

    request: GenRequest
    sample: int
    on_chunk: ChunkCallback | None
    heal: bytes
    max_tokens: int
    spec: ConstraintSpec | None = None
    matcher: Matcher | None = None  # constraint and/or healing prefix; None once free
    ids: list[int] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)
    text: str = ""  # the value so far: healed prefix removed, stop text cut off
    full: str = ""  # all generated text so far, healed prefix removed (stops not cut)
    emitted: int = 0  # characters of `text` already streamed
    finish: FinishReason | None = None
    stop_text: str = ""
    complete: bool = False  # a constrained value is complete
    logprobs: list[TokenLogprob] = field(default_factory=list)
    marks: list[tuple[MarkKind, int, int]] = field(default_factory=list)  # healed/forced bytes
    decoded: int = 0  # bytes of `raw` after the healed prefix that `full` holds
    scan_from: int = 0  # where `scanner`'s text starts (past stops a constraint did not end at)
    scanner: StopScanner = field(init=False)
    decoder: codecs.IncrementalDecoder = field(init=False)

    def __post_init__(self) -> None:
        self.scanner = StopScanner(self.request.stop, self.request.stop_regex)
        # Incremental: a character split across tokens waits for its last byte, and `full`
        # only ever grows at its end (the stop scanner reads each character once).
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    @property
    def constrained(self) -> bool:
        return self.spec is not None and self.spec.constrained

    def append(self, token: int, data: bytes, is_end: bool, forced: bool = False) -> None:
        """Add one chosen token: `data` its bytes, `is_end` an end token (never consumed: a
        matcher only offers it when complete), `forced` fed by fast-forward, not sampled."""
        self.ids.append(token)
        if is_end:
            self.finish = "eos"
        else:
            if self.matcher is not None:
                self.matcher.consume(token)
            start = len(self.raw)
            self.raw += data
            if start < len(self.heal) or forced:  # for the view: healed or forced bytes
                self.marks.append(("healed" if start < len(self.heal) else "forced", start,
                                   len(self.raw)))
            self.update_text()
        if self.finish is None and len(self.ids) >= self.max_tokens:
            self.finish = "length"
        self.settle()

    def end(self, reason: FinishReason) -> None:
        """The model side ended the sample by itself (`reason`: "length" or "eos")."""
        if self.finish is None:
            self.finish = reason
            self.settle()

    def settle(self) -> None:
        """After a change: whether a constrained value is complete, and stream what is settled."""
        if self.matcher is not None and self.constrained:
            self.complete = self.matcher.is_accepting() or self.finish in ("stop", "constraint")
        self.emit()

    def read_new_text(self) -> str:
        """Decode the bytes added to `raw` since the last call; the new text (maybe empty)."""
        start = len(self.heal) + self.decoded
        if len(self.raw) <= start:
            return ""
        data = bytes(self.raw[start:])
        self.decoded += len(data)
        delta = self.decoder.decode(data)
        self.full += delta
        return delta

    def rescan(self, start: int) -> None:
        """Look for stops in `full` again from `start` on, with a fresh scanner."""
        self.scan_from, self.scanner = start, StopScanner(self.request.stop,
                                                          self.request.stop_regex)
        self.scanner.feed(self.full[start:])

    def update_text(self) -> None:
        """Read the new text and detect the sample's end (a stop, or the constraint's end)."""
        self.scanner.feed(self.read_new_text())
        matcher = self.matcher
        if matcher is not None and self.constrained:
            self.text = self.full
            self._constrained_stop()
            if self.finish is None and matcher.is_finished():
                result = matcher.result()
                self.text, self.stop_text = result.value, result.stop_text
                self.finish = "stop" if result.stop_text else "constraint"
            return
        if matcher is not None and matcher.is_free():
            self.matcher = None  # the healed prefix is produced: no mask from here on
        if self.scanner.stopped:
            self.text, self.stop_text = self.scanner.text, self.scanner.stop_text
            self.finish = "stop"
        else:
            self.text = self.full

    def _constrained_stop(self) -> None:
        """The constraint engine owns stops here: they are part of its grammar. A pattern may
        also match the stop text itself (`[a-z .]+` with stop '.'), so the first stop at which
        the value is already a full match ends it, as it would without a pattern; the scanner
        looks past every other stop (and keeps holding back what may start one)."""
        pattern = self.spec.pattern if self.spec is not None else None
        while self.scanner.stopped:
            end = self.scan_from + len(self.scanner.text)
            if pattern is not None and full_match(pattern, self.full[:end]):
                self.text, self.stop_text = self.full[:end], self.scanner.stop_text
                self.finish = "stop"
                return
            self.rescan(end + 1)

    def emit(self) -> None:
        """Stream the text that can no longer change (all of it once finished)."""
        upto = len(self.text)
        if self.finish is None:
            upto -= self.scanner.holding()
        if upto > self.emitted and self.on_chunk is not None:
            self.on_chunk(self.sample, self.text[self.emitted:upto])
        self.emitted = max(self.emitted, upto)

    def check_complete(self) -> None:
        """Raise when a constrained value ended (max_tokens, EOS) before it was complete."""
        if self.spec is None or not self.constrained or self.finish not in ("length", "eos"):
            return
        if self.complete or self.request.allow_partial:
            return
        reason = "max_tokens" if self.finish == "length" else "end of text"
        raise incomplete_output_error(self.spec, self.text, gen_name=self.request.name,
                                      reason=reason)


def gen_result(samples: Sequence[SampleState], stats: GenStats) -> GenResult:
    """The GenResult of finished samples (raises for an incomplete constrained value)."""
    for sample in samples:
        sample.check_complete()
    first = samples[0]
    return GenResult(
        texts=tuple(s.text for s in samples),
        finish_reasons=tuple(s.finish or "length" for s in samples),
        stop_texts=tuple(s.stop_text for s in samples),
        logprobs=tuple(tuple(s.logprobs) for s in samples)
        if first.request.logprobs is not None else None,
        stats=stats,
        marks=value_marks(bytes(first.raw), first.heal, first.text, first.marks),
    )
