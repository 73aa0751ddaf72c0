"""Programs are shown through the presenter the display layer installs (the runtime never
imports display/)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.display.presenter import DisplayPresenter
from guidance_engine.llms.mock import Mock
from guidance_engine.runtime import presenting


class Recording(DisplayPresenter):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def html(self, program: Any) -> str:
        self.calls.append("html")
        return "<b>shown</b>"

    def text(self, program: Any) -> str:
        self.calls.append("text")
        return "TEXT VIEW"


@pytest.fixture
def recording() -> Iterator[Recording]:
    installed = presenting.presenter()
    assert isinstance(installed, DisplayPresenter)  # importing guidance_engine installed it
    recorder = Recording()
    presenting.use_presenter(recorder)
    yield recorder
    presenting.use_presenter(installed)


def test_program_views_come_from_the_installed_presenter(recording: Recording) -> None:
    out = guidance("line one\n{{gen 'x'}}", llm=Mock("two"))()
    assert out._repr_html_() == "<b>shown</b>"
    assert repr(out) == "<Program done>\nTEXT VIEW"
    assert recording.calls == ["html", "text"]


def test_a_view_ends_with_how_the_run_ended() -> None:
    program = guidance("A{{await 'b'}}C")
    assert program.view_events() is None  # never run
    events = program().view_events()
    assert events is not None and type(events[-1]).__name__ == "Finished"
    assert presenting.presenter().view(program).message == "not run yet"


def test_without_a_presenter_showing_is_an_internal_error() -> None:
    installed = presenting.presenter()
    presenting.use_presenter(None)  # type: ignore[arg-type]
    try:
        with pytest.raises(RuntimeError, match="no presenter installed"):
            presenting.presenter()
    finally:
        presenting.use_presenter(installed)
