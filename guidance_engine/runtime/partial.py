"""Live partial values: while a gen streams, a partial program's variable holds the text so far.

`LiveValues` folds a run's events; `apply` writes the streamed text into a snapshot's (copied)
variables, as Guidance 0.0.64 did, so code written for it can read `part["name"]` while the
model decodes::

    for part in program(stream=True):
        print(part["answer"])   # 'The', 'The cap', 'The capital', ...

Only snapshots get these values: the running state is never written, so a gen that fails or
is stopped leaves the final program without a half-written value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from guidance_engine.runtime import events as ev
from guidance_engine.runtime.scopes import Variables


@dataclass
class _Stream:
    how: str  # "set" or "append"
    samples: int
    texts: dict[int, str] = field(default_factory=dict)

    def value(self) -> Any:
        if self.samples == 1:
            return self.texts.get(0, "")
        return [self.texts.get(index, "") for index in range(self.samples)]


class LiveValues:
    """The gens streaming right now (by variable), built from the events."""

    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}

    def feed(self, event: ev.Event) -> None:
        if isinstance(event, ev.GenStart):
            if event.name is not None and event.partial is not None:
                self._streams[event.name] = _Stream(event.partial, event.samples)
        elif isinstance(event, ev.GenChunk):
            stream = self._streams.get(event.name or "")
            if stream is not None:
                stream.texts[event.index] = stream.texts.get(event.index, "") + event.text
        elif isinstance(event, ev.GenEnd) and event.name is not None:
            self._streams.pop(event.name, None)  # the gen itself saves the value now

    def apply(self, variables: Variables) -> None:
        """Write each streaming gen's text so far into `variables` (a snapshot's copy)."""
        for name, stream in self._streams.items():
            if stream.how == "append":
                variables.append(name, stream.value())
            else:
                variables.set(name, stream.value())

    def streaming(self) -> list[str]:
        """The variables of the gens streaming now."""
        return list(self._streams)
