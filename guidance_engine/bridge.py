"""Sync over async, written once: an event loop in its own thread, and plain iteration of an
async stream through one.

A `LoopThread` runs coroutines on a private loop in a daemon thread, so a blocking call works
the same in a script, inside a running event loop and in a Jupyter cell, and the calling thread
stays free to take a KeyboardInterrupt. A 0.0.64 session keeps one for its whole life (its
backend state lives on one loop); `iterate` makes one per run::

    with llm.session() as s:              # classic.ClassicSession: LoopThread().run(...)
        s("Name:", max_tokens=5)
    for event in iterate(program.events()):
        print(event)

`iterate`: an interrupt stops the run (the model stops within one forward pass) and waits for
it; then it is re-raised, or, with `interrupt="finish"`, the stream's last items (the
`Interrupted` event with the partial program) are still delivered.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, Literal, Protocol, TypeVar

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
_POLL_SECONDS = 0.2  # how often a waiting caller wakes up (a signal wakes it at once anyway)


class LoopThread:
    """An event loop running in a daemon thread named `name`.

    `submit(coroutine)` schedules it there (a concurrent future), `run(coroutine)` blocks until
    it is done; `stop()` cancels what is left, finishes async generators and the default
    executor (as `asyncio.run` does), then ends the thread and closes the loop.
    """

    def __init__(self, name: str = "guidance-session") -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, daemon=True, name=name)
        self._stopping = False
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.submit(coroutine).result()

    def stop(self) -> None:
        """End the loop and its thread (interrupts while waiting are ignored: it is ending)."""
        if not self._stopping:
            self._stopping = True
            self.loop.call_soon_threadsafe(self.loop.create_task, self._shutdown())
        _join(self.thread)
        if not self.loop.is_closed():
            self.loop.close()

    async def _shutdown(self) -> None:
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.loop.shutdown_asyncgens()
        await self.loop.shutdown_default_executor()
        self.loop.stop()


class Stoppable(Protocol[T_co]):
    def __aiter__(self) -> Any: ...

    async def __anext__(self) -> T_co: ...

    def stop(self, reason: str = "stopped") -> None: ...


def iterate(
    stream: Stoppable[T], interrupt: Literal["raise", "finish"] = "raise"
) -> Iterator[T]:
    """The items of an async `stream`, produced on a run thread and handed over as they come.

    Leaving the loop early stops the run; every path ends the run thread before returning.
    """
    items: queue.Queue[tuple[str, Any]] = queue.Queue()

    async def drain() -> None:
        async for item in stream:
            items.put(("item", item))

    runner = LoopThread("guidance-run")
    done = runner.submit(drain())
    done.add_done_callback(lambda future: items.put(_outcome(future)))
    interrupted = False
    try:
        while True:
            # A signal can land anywhere in this frame but the `yield`: all of it is covered.
            try:
                kind, value = _get(items)
                if kind == "end":
                    break
                deliver = kind == "item" and not (interrupted and interrupt == "raise")
            except KeyboardInterrupt:
                interrupted = True
                stream.stop("KeyboardInterrupt")
                continue
            if kind == "error":
                raise value
            if deliver:
                yield value
    finally:
        stream.stop("the stream was closed")  # no-op when the run has ended
        _wait(done)
        runner.stop()
    if interrupted and interrupt == "raise":
        raise KeyboardInterrupt


def _outcome(future: concurrent.futures.Future[None]) -> tuple[str, Any]:
    """("end", None) for a run that finished, else ("error", what ended it)."""
    if future.cancelled():
        return "error", asyncio.CancelledError()
    error = future.exception()
    return ("end", None) if error is None else ("error", error)


def _get(items: queue.Queue[tuple[str, Any]]) -> tuple[str, Any]:
    while True:
        try:
            return items.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            continue


def _wait(future: concurrent.futures.Future[Any]) -> None:
    """Wait for the run to end, even if more interrupts arrive meanwhile (it is stopping)."""
    while not future.done():
        try:
            concurrent.futures.wait([future], timeout=_POLL_SECONDS)
        except KeyboardInterrupt:
            continue


def _join(thread: threading.Thread) -> None:
    """Join, even if more interrupts arrive meanwhile."""
    while thread.is_alive():
        try:
            thread.join()
        except KeyboardInterrupt:
            continue
