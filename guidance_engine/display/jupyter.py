"""Live display in Jupyter: one output updated from the run's events as the model works.

Used by `Program.__call__` when running inside an IPython kernel and `silent` is not True;
IPython is imported only then, so scripts never need it::

    out = program()     # in a notebook: the cell shows the text growing, then the result

Updates are throttled (at most ~10 per second; the last state is always sent). The view's own
stop button (`stop_button`, under the view while the run goes) or interrupting the cell (the
kernel's stop button, `KernelManager.interrupt_kernel`) stops the model within one forward
pass; the cell then returns the partial program, marked interrupted, and its view says so.
Outside a kernel, `silent=False` prints the text view at the end instead.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from guidance_engine import bridge
from guidance_engine.display import stop_button
from guidance_engine.display.html import render_html
from guidance_engine.display.text import render_text
from guidance_engine.display.view import ProgramView
from guidance_engine.runtime import events as ev

UPDATE_SECONDS = 0.1  # at most ~10 display updates per second
_OUTCOMES = {"running": "stopped", "done": "done", "waiting": "waiting", "interrupted": "stopped",
             "error": "failed"}


def should_display(silent: bool | None) -> bool:
    """Live display unless silent=True; by default only inside a Jupyter kernel.

    silent=False without IPython installed (a plain script) runs without display rather than
    failing: there is nowhere to show the live output.
    """
    if silent is None:
        return in_kernel()
    return not silent and (in_kernel() or _ipython_available())


def in_kernel() -> bool:
    return "ipykernel" in sys.modules and _kernel() is not None


def _kernel() -> Any:
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get is not None else None
    return getattr(shell, "kernel", None)


def _ipython_available() -> bool:
    if sys.modules.get("IPython") is not None:
        return True
    # find_spec returns None for a module that is not installed (or is blocked in sys.modules).
    return importlib.util.find_spec("IPython") is not None


def show_live(program: Any, stream: Any) -> Any:
    """Run `stream` (the events of `program`'s run) with a live view; returns the program the
    run ended with. In a kernel an interrupt ends the run and returns the partial program."""
    view = _started_view(program)
    if not in_kernel():
        result = _consume(view, bridge.iterate(stream), lambda: None)
        print(render_text(view))
        return result
    from IPython.display import display

    handle = display(bundle(view), raw=True, display_id=True)
    button = stop_button.offer(lambda: stream.stop("the stop button"))
    try:
        result = _consume(view, bridge.iterate(stream, interrupt="finish"),
                          lambda: handle.update(bundle(view), raw=True),
                          on_interrupt=lambda: stream.stop("KeyboardInterrupt"))
    finally:
        if button is not None:
            button.finish(_OUTCOMES[view.status])
    if result is not None:
        result._shown_in = _execution_count()  # the cell's own result is not shown again
    return result


async def show_live_async(program: Any, stream: Any) -> Any:
    """`await program(async_mode=True)` in a kernel: the same live view, updated from the
    kernel's event loop (the cell does not block it, so other cells' output keeps flowing)."""
    from IPython.display import display

    view = _started_view(program)
    handle = display(bundle(view), raw=True, display_id=True)
    # The kernel's loop is free while this cell awaits: comms are served without a subshell.
    button = stop_button.offer(lambda: stream.stop("the stop button"), blocking=False)
    last, result = time.monotonic(), None
    try:
        async for event in stream:
            view.feed(event)
            if isinstance(event, ev.Finished | ev.Interrupted):
                result = event.program
            if time.monotonic() - last >= UPDATE_SECONDS:
                handle.update(bundle(view), raw=True)
                last = time.monotonic()
    finally:
        handle.update(bundle(view), raw=True)
        if button is not None:
            button.finish(_OUTCOMES[view.status])
    if result is not None:
        result._shown_in = _execution_count()
    return result


def _started_view(program: Any) -> ProgramView:
    """A view holding what earlier runs of a resumed program produced (their events)."""
    view = ProgramView(program.template)
    for event in program._display_events():
        view.feed(event)
    return view


def _consume(
    view: ProgramView, events: Iterator[ev.Event], refresh: Callable[[], None],
    on_interrupt: Callable[[], None] | None = None,
) -> Any:
    """Feed every event to `view`, refreshing at most every UPDATE_SECONDS and at the end.

    With `on_interrupt`, a KeyboardInterrupt that lands while an event is being shown (not
    while waiting for one, which `bridge.iterate` handles) calls it instead of escaping, and the
    run's remaining events, down to `Interrupted` with the partial program, are still shown.
    """
    last = time.monotonic()  # the caller has just shown the first state
    result = None
    try:
        for event in events:
            try:
                view.feed(event)
                if isinstance(event, ev.Finished | ev.Interrupted):
                    result = event.program
                now = time.monotonic()
                if now - last >= UPDATE_SECONDS:
                    refresh()
                    last = now
            except KeyboardInterrupt:
                if on_interrupt is None:
                    raise
                on_interrupt()
    finally:
        _refresh_once_more(refresh, on_interrupt is not None)
    return result


def _refresh_once_more(refresh: Callable[[], None], absorb_interrupt: bool) -> None:
    """The last state is always sent (also when the run failed or was interrupted)."""
    try:
        refresh()
    except KeyboardInterrupt:
        if not absorb_interrupt:
            raise
        refresh()


def display_program(program: Any, view: ProgramView) -> None:
    """`_ipython_display_`: show the program's `view`, unless this very cell already shows it
    live (then a last-expression call is not displayed twice)."""
    if getattr(program, "_shown_in", None) == _execution_count():
        return
    if not in_kernel():
        print(render_text(view))
        return
    from IPython.display import display

    display(bundle(view), raw=True)


def bundle(view: ProgramView) -> dict[str, str]:
    """The MIME bundle of a view: HTML, and the text view for frontends without HTML."""
    return {"text/html": render_html(view), "text/plain": render_text(view)}


def _execution_count() -> int | None:
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get is not None else None
    count = getattr(shell, "execution_count", None)
    return count if isinstance(count, int) else None
