"""The real model off the event loop: chunks arrive while it decodes, and stopping a run stops
decoding within one forward pass (aclose, KeyboardInterrupt), with no thread left behind and a
KV cache that still gives the same answer next time. Ordering, never wall-clock, is asserted."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
import warnings
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.llms.transformers import Transformers
from guidance_engine.runtime.events import GenChunk, GenEnd

PROMPT = "Count from one to two hundred: 1, 2, 3, 4,"


def model_threads(before: frozenset[threading.Thread] = frozenset()) -> list[str]:
    """The engine's worker threads alive now that were not in `before` (sessions that earlier
    tests left to the garbage collector may still be winding down theirs)."""
    return [t.name for t in threading.enumerate()
            if t.name.startswith(("guidance-model", "guidance-run")) and t not in before]


def live_threads() -> frozenset[threading.Thread]:
    return frozenset(threading.enumerate())


def test_chunks_arrive_while_the_model_decodes_and_no_deprecation_warning(
    smol_llm: Transformers,
) -> None:
    logging.Logger.warning_once.cache_clear()  # type: ignore[attr-defined]  # a fresh "once"
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("transformers").addHandler(handler)
    program = guidance(PROMPT + "{{gen 'n' max_tokens=12 stop='XYZ'}}", llm=smol_llm)
    at_chunk: list[tuple[int, int]] = []  # (forward passes, loop ticks) when each chunk came
    ticks = [0]

    async def ticker() -> None:
        while True:
            await asyncio.sleep(0.001)
            ticks[0] += 1

    async def main() -> int:
        tick_task = asyncio.ensure_future(ticker())
        end = -1
        async for event in program.events():
            if isinstance(event, GenChunk):
                at_chunk.append((smol_llm.forward_passes, ticks[0]))
            elif isinstance(event, GenEnd):
                end = smol_llm.forward_passes
        tick_task.cancel()
        return end

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            end = asyncio.run(main())
    finally:
        logging.getLogger("transformers").removeHandler(handler)
    assert len(at_chunk) >= 5
    # The first chunk reached the consumer while the model still had passes to run...
    assert at_chunk[0][0] < end
    # ...and the event loop kept running between chunks (it was never blocked by decoding).
    assert at_chunk[-1][1] > at_chunk[0][1]
    assert [w for w in caught if issubclass(w.category, FutureWarning | DeprecationWarning)
            and "guidance_engine" in w.filename] == []
    assert [w for w in caught if "past_key_values" in str(w.message)] == []
    assert [r.getMessage() for r in records if "past_key_values" in r.getMessage()] == []


def test_closing_the_stream_stops_decoding_within_one_pass(
    smol_llm: Transformers, monkeypatch: pytest.MonkeyPatch, close_probe: Any,
) -> None:
    """Once the consumer has noted the count, the next pass to complete is held until the close
    has reached the session (its cancel flag is set): what is counted is the worker's reaction
    to the flag, not how fast the event loop passes the close on. A worker that decodes on past
    the flag, or a close that never sets it (held 10 s at most, once), fails by hundreds."""
    reference = guidance(PROMPT + "{{gen 'n' max_tokens=10}}", llm=smol_llm)()["n"]
    program = guidance(PROMPT + "{{gen 'n' max_tokens=300}}", llm=smol_llm)
    before = live_threads()

    async def main() -> tuple[int, int]:
        stream = program.events()
        chunks = 0
        async for event in stream:
            chunks += isinstance(event, GenChunk)
            if chunks == 3:
                break
        at_stop = smol_llm.forward_passes
        close_probe.stopping.set()
        await stream.aclose()  # returns once the worker has stopped and been joined
        return at_stop, smol_llm.forward_passes

    at_stop, after = asyncio.run(main())
    monkeypatch.undo()
    assert close_probe.held in ([], [True])  # a held pass saw the flag set by the close
    assert after - at_stop <= 1  # at most the pass that was running when we stopped
    assert model_threads(before) == []
    # The session's cache (kept for the next run) is consistent: same greedy answer again.
    assert guidance(PROMPT + "{{gen 'n' max_tokens=10}}", llm=smol_llm)()["n"] == reference


@pytest.fixture
def python_sigint() -> Any:
    """Python's own SIGINT handler for the test: a shell starts a background job (`make test &`,
    a CI runner's child) with SIGINT ignored, and Python then installs no handler at all."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_keyboard_interrupt_stops_a_sync_call(smol_llm: Transformers, python_sigint: Any) -> None:
    start = smol_llm.forward_passes
    program = guidance(PROMPT + "{{gen 'n' max_tokens=300}}", llm=smol_llm)
    before = live_threads()

    def interrupt_once_decoding() -> None:
        while smol_llm.forward_passes < start + 4:
            time.sleep(0.005)
        os.kill(os.getpid(), signal.SIGINT)

    sender = threading.Thread(target=interrupt_once_decoding)
    sender.start()
    with pytest.raises(KeyboardInterrupt):
        program()
    sender.join()
    stopped = smol_llm.forward_passes
    assert model_threads(before) == []
    assert stopped - start < 100  # far from the 300 tokens asked for
    assert smol_llm.forward_passes == stopped  # nothing runs on after the call returned
