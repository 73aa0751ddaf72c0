"""Display: HTML of a program, plain text from events, the live Jupyter view (faked IPython)."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.display.html import program_html
from guidance_engine.display.text import render_events
from guidance_engine.llms.mock import Mock
from guidance_engine.runtime.events import GenChunk, TextEvent, TextReset

PRE = "<pre style=\"white-space: pre-wrap; margin: 0\">"


def test_program_html_escapes_and_greys_the_rest() -> None:
    assert program_html("a<b", "{{x}}", running=True) == (
        '<pre style="white-space: pre-wrap; margin: 0">a&lt;b'
        '<span style="opacity: 0.5">▌</span><span style="opacity: 0.5">{{x}}</span></pre>')


def test_render_events() -> None:
    events = [TextEvent("ab", None), GenChunk("x", 0, "c"), GenChunk("x", 1, "z"),
              TextEvent("cd", None), TextReset(3), TextEvent("!", None)]
    assert render_events(events) == "abc!"
    assert render_events(events[:3]) == "abc"


class FakeHandle:
    def __init__(self, shown: list[str], html: Any) -> None:
        self.shown = shown
        shown.append(html.data)

    def update(self, html: Any) -> None:
        self.shown.append(html.data)


def test_live_display_updates_one_output(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []
    fake = types.ModuleType("IPython.display")

    class HTML:
        def __init__(self, data: str) -> None:
            self.data = data

    def display(html: HTML, display_id: bool) -> FakeHandle:
        assert display_id is True
        return FakeHandle(shown, html)

    fake.HTML = HTML  # type: ignore[attr-defined]
    fake.display = display  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
    monkeypatch.setitem(sys.modules, "IPython.display", fake)
    out = guidance("a{{gen 'x'}}", llm=Mock("b c"), silent=False)()
    assert str(out) == "ab c"
    assert [s.removeprefix(PRE) for s in shown] == [
        'a<span style="opacity: 0.5">▌</span><span style="opacity: 0.5">{{gen &#x27;x&#x27;}}'
        "</span></pre>",
        'ab<span style="opacity: 0.5">▌</span></pre>',
        'ab c<span style="opacity: 0.5">▌</span></pre>',
        "ab c</pre>",
    ]


def test_no_display_outside_jupyter_by_default() -> None:
    assert "ipykernel" not in sys.modules
    assert str(guidance("x")()) == "x"


def test_silent_false_without_ipython_runs_without_display(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "IPython", None)  # as if IPython were not installed
    assert str(guidance("a{{x}}", silent=False)(x=1)) == "a1"
