"""What every execution of one program run shares: the model, its session, the log and the sink.

One `Shared` is made per program run; the main execution and every inline child (partials,
`{{parse}}`, parallel forks) use the same session, so the KV cache follows the whole run::

    shared = Shared(llm, sink=print)
    session = shared.open_session(llm)   # opened on the first model call, closed by close()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from guidance_engine.llms.base import LLM, Session
from guidance_engine.llms.caching import CachedSession
from guidance_engine.runtime import events as ev
from guidance_engine.runtime.library import builtins


@dataclass
class Shared:
    """What every execution of one program run shares: the model, its session, log and sink."""

    llm: LLM | None
    sink: ev.EventSink | None = None
    records: list[ev.Event] | None = None  # the log, when logging
    session: Session | None = None
    names: dict[str, Any] = field(default_factory=builtins)
    caching: bool | None = None  # the program's caching=; None: the model's own setting

    def __post_init__(self) -> None:
        if self.llm is not None:
            self.names.setdefault("llm", self.llm)  # 0.0.64 templates read {{llm.xxx}}

    @property
    def recording(self) -> bool:
        return self.records is not None or self.sink is not None

    def open_session(self, llm: LLM) -> Session:
        if self.session is None:
            self.session = llm.session()
            if self.caching if self.caching is not None else llm.caching:
                self.session = CachedSession(self.session, llm)
        return self.session

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def record(self, record: ev.CommandRecord | ev.ModelCallRecord) -> None:
        if self.records is not None:
            self.records.append(record)
        if self.sink is not None:
            self.sink(record)

