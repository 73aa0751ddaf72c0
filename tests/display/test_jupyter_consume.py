"""The kernel view's event loop: an interrupt that lands while an event is being shown.

A SIGINT reaches the kernel's main thread wherever it is; when it lands in the display update
rather than in the wait for the next event, the cell must still end with the partial program
(the run stopped, `Interrupted` shown), not with a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import asyncio

import pytest

import guidance_engine as guidance
from guidance_engine import bridge
from guidance_engine.display import jupyter
from guidance_engine.display.view import ProgramView
from guidance_engine.llms.base import ChunkCallback, GenRequest, GenResult, Session
from guidance_engine.llms.mock import MockSession

WAIT_SECONDS = 30.0  # how long the model waits to be stopped before it finishes on its own


class _StallingSession(MockSession):
    """Streams a few words, then waits until the run is stopped (cancelled).

    The run can only finish early by being stopped, so whether the interrupt stopped it does
    not depend on how fast the run thread is next to the consumer.
    """

    async def gen(self, request: GenRequest, on_chunk: ChunkCallback | None = None) -> GenResult:
        assert on_chunk is not None
        for _ in range(5):
            on_chunk(0, "word ")
            await asyncio.sleep(0)
        await asyncio.sleep(WAIT_SECONDS)
        return GenResult(("word " * 5 + "end",), ("stop",), ("",))


class StallingMock(guidance.llms.Mock):
    def session(self, asynchronous: bool = False) -> Session:
        return _StallingSession(self)


def run_with_interrupt_in_refresh(absorb: bool) -> object:
    program = guidance("Say: {{gen 'x'}}", llm=StallingMock())
    stream = program.events()
    calls = {"refresh": 0}

    def refresh() -> None:
        calls["refresh"] += 1
        if calls["refresh"] == 3:
            raise KeyboardInterrupt  # as if the signal arrived during handle.update(...)

    stop = (lambda: stream.stop("KeyboardInterrupt")) if absorb else None
    return jupyter._consume(ProgramView(program.template),
                            bridge.iterate(stream, interrupt="finish"), refresh, stop)


def test_an_interrupt_during_a_display_update_ends_with_the_partial_program(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jupyter, "UPDATE_SECONDS", 0.0)
    result = run_with_interrupt_in_refresh(absorb=True)
    assert getattr(result, "interrupted", False) is True
    # stopped inside the gen: nothing half-written into the text or the variables
    assert result.text == "Say: "  # type: ignore[attr-defined]
    assert "x" not in result.variables()  # type: ignore[attr-defined]


def test_without_an_interrupt_handler_it_still_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jupyter, "UPDATE_SECONDS", 0.0)
    with pytest.raises(KeyboardInterrupt):
        run_with_interrupt_in_refresh(absorb=False)
