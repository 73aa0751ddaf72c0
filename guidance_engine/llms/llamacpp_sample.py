"""One sample of a LlamaCpp gen as it streams: tokens in, value, stop and chunks out.

llama.cpp reports each token it chose (its id, with the model's own log-probabilities); a
`Sample` takes them one by one and decides what the value is exactly as the Transformers
backend does for its own tokens, through the shared `SampleState` (`sample_state.py`): the
healed prefix is removed, stop strings and stop regexes are found by the package's
`StopScanner` (text that could still become one is held back from the chunks), and a
constrained value replays the tokens through a `Matcher` of the same spec llama.cpp enforced,
which splits the value from the stop that ended it::

    sample = Sample(request, 0, on_chunk, b" ", 8, spec=spec, matcher=m, end_ids={2},
                    index=index)
    sample.take(token_id, entry)   # True once the sample is finished (stop it on the server)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guidance_engine.constraints import TokenIndex
from guidance_engine.llms.base import TokenLogprob
from guidance_engine.llms.sample_state import SampleState


@dataclass(kw_only=True)
class Sample(SampleState):
    """The state of one sample (see the module docstring): `end_ids` end it, `index` gives
    each token's bytes."""

    end_ids: set[int]
    index: TokenIndex

    def take(self, token: int, entry: dict[str, Any]) -> bool:
        """Add the token llama.cpp chose (`entry`: its logprobs record); True when finished."""
        data = self.index.token_bytes(token)
        healing_only = not self.ids and data == self.heal != b""
        if self.request.logprobs is not None and not healing_only:
            self._record_logprob(entry)
        self.append(token, data, token in self.end_ids)
        return self.finish is not None

    def end(self, reason: str | None) -> None:
        """llama.cpp ended the sample by itself: an end token ("stop") or its token budget."""
        super().end("length" if reason == "length" else "eos")

    def _record_logprob(self, entry: dict[str, Any]) -> None:
        top = self.request.logprobs or 0
        alternatives = entry.get("top_logprobs") or []
        self.logprobs.append(TokenLogprob(
            str(entry.get("token", "")), float(entry.get("logprob", 0.0)),
            tuple((str(alt.get("token", "")), float(alt.get("logprob", 0.0)))
                  for alt in alternatives[:top]),
        ))
