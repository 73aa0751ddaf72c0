"""Plain-text rendering of an execution's event stream (what a terminal shows while streaming).

    >>> render_events([TextEvent("Hi ", None), GenChunk("x", 0, "Bob"), TextEvent("Bob", None)])
    'Hi Bob'
"""

from __future__ import annotations

from collections.abc import Iterable

from guidance_engine.display.view import ProgramView
from guidance_engine.runtime.events import Event, GenChunk, TextEvent, TextReset


def render_events(events: Iterable[Event]) -> str:
    """The output text the events describe (streamed gen chunks are replaced by their commit)."""
    text, pending = "", ""
    for event in events:
        if isinstance(event, GenChunk):
            if event.index == 0:
                pending += event.text
        elif isinstance(event, TextEvent):
            text, pending = text + event.text, ""
        elif isinstance(event, TextReset):
            text, pending = text[: event.length], ""
    return text + pending


def render_text(view: ProgramView) -> str:
    """A terminal-readable view: role turns as `[role]` headers, then a status line.

    Generated spans are marked `⟦...⟧` so they stand apart from the template's text.
    """
    parts: list[str] = []
    for seg in view.shown():
        if seg.kind == "role-open":
            parts.append(f"\n[{seg.role}]\n")
        elif seg.kind == "role-close":
            parts.append("\n")
        elif seg.kind in ("gen", "select"):
            parts.append(f"⟦{seg.text}⟧")
        else:
            parts.append(seg.text)
    if view.pending:
        parts.append(f"⟦{view.pending}…")
    body = "".join(parts).strip("\n")
    rest = view.rest
    status = {"running": "running", "done": "done", "waiting": view.message,
              "interrupted": view.message, "error": view.message}[view.status]
    line = " · ".join(x for x in (status, view.progress()) if x)
    tail = f"\n--- not run yet ---\n{rest}" if rest else ""
    return f"{body}{tail}\n--- {line} ---"
