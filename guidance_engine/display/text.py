"""Plain-text rendering of an execution's event stream (what a terminal shows while streaming).

    >>> render_events([TextEvent("Hi ", None), GenChunk("x", 0, "Bob"), TextEvent("Bob", None)])
    'Hi Bob'
"""

from __future__ import annotations

from collections.abc import Iterable

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
