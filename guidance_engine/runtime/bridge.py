"""Synchronous access to a run: iterate an event stream from plain (non-async) code.

The run gets its own thread and event loop, so a sync call works the same in a script, inside
a running event loop and in a Jupyter cell, and the calling thread stays free to take a
KeyboardInterrupt. An interrupt stops the run (the model stops within one forward pass) and
waits for it; then it is re-raised, or, with `interrupt="finish"`, the stream's last items
(the `Interrupted` event with the partial program) are still delivered::

    for event in iterate(program.events()):
        print(event)
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator
from typing import Any, Literal, Protocol, TypeVar

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
_POLL_SECONDS = 0.2  # how often a waiting caller wakes up (a signal wakes it at once anyway)


class Stoppable(Protocol[T_co]):
    def __aiter__(self) -> Any: ...

    async def __anext__(self) -> T_co: ...

    def stop(self, reason: str = "stopped") -> None: ...


def iterate(
    stream: Stoppable[T], interrupt: Literal["raise", "finish"] = "raise"
) -> Iterator[T]:
    """The items of an async `stream`, produced on a run thread and handed over as they come.

    Leaving the loop early stops the run; every path joins the run thread before returning.
    """
    items: queue.Queue[tuple[str, Any]] = queue.Queue()

    def work() -> None:
        async def drain() -> None:
            async for item in stream:
                items.put(("item", item))

        try:
            asyncio.run(drain())
            items.put(("end", None))
        except BaseException as exc:  # handed to the caller's thread below
            items.put(("error", exc))

    thread = threading.Thread(target=work, name="guidance-run", daemon=True)
    thread.start()
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
        _join(thread)
    if interrupted and interrupt == "raise":
        raise KeyboardInterrupt


def _get(items: queue.Queue[tuple[str, Any]]) -> tuple[str, Any]:
    while True:
        try:
            return items.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            continue


def _join(thread: threading.Thread) -> None:
    """Join, even if more interrupts arrive meanwhile (the run is already stopping)."""
    while thread.is_alive():
        try:
            thread.join()
        except KeyboardInterrupt:
            continue
