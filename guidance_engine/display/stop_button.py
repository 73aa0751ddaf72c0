"""The view's stop button: a small widget shown under a running program's view in Jupyter.

A click stops the run the way the kernel's interrupt does: the model stops within one forward
pass (local) or one chunk (remote), and the cell returns the partial program, marked
interrupted. The button is an `anywidget` (its front end is `stop_button.js`); the front end
sends `{"event": "stop"}` on the widget's comm, and the kernel calls `stop`::

    button = offer(lambda: stream.stop("the stop button"))   # None: no button here
    ...                                                      # the run
    button.finish("done")                                    # removed from the output

A cell blocked in a synchronous call gets no shell messages, so the comm's messages are routed
to a kernel subshell (ipykernel 7's subshells: a thread of their own) that serves them while
the main thread waits for the run. Without anywidget, or in a kernel without subshells, no
button is shown; the kernel's interrupt still works.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

_ESM = Path(__file__).with_name("stop_button.js")
_SUBSHELL_ATTR = "_guidance_engine_stop_subshell"  # one subshell per kernel, made on first use
STOP_EVENT = {"event": "stop"}  # what the button sends (the real-kernel test sends the same)


class StopButton:
    """A displayed stop button; `finish()` removes it when the run ends."""

    def __init__(self, widget: Any, handle: Any) -> None:
        self.widget = widget
        self._handle = handle

    @property
    def comm_id(self) -> str:
        return str(self.widget.comm.comm_id)

    def finish(self, outcome: str) -> None:
        """Disable the button (its text says `outcome`), then take it out of the output."""
        self.widget.set_trait("outcome", outcome)
        self.widget.running = False
        self._handle.update({"text/plain": ""}, raw=True)
        self.widget.close()


def offer(stop: Callable[[], None], blocking: bool = True) -> StopButton | None:
    """Show a stop button that calls `stop()` when clicked; None when it cannot work here.

    `blocking`: the caller will block the kernel's main thread (a synchronous call), so the
    button's messages must be served by a subshell."""
    widget_class = _widget_class()
    if widget_class is None:
        return None
    kernel = _kernel()
    subshell = _subshell(kernel) if blocking else None
    if blocking and subshell is None:
        return None
    from IPython.display import display

    widget = widget_class()

    def on_message(_: Any, content: Any, buffers: Any) -> None:
        if content == STOP_EVENT:
            stop()

    widget.on_msg(on_message)
    if subshell is not None and not routes_to_subshells(widget.comm):
        widget.close()  # this ipykernel would queue the click behind the blocked cell
        return None
    if subshell is not None:
        # ipykernel's shell channel thread asks a comm where the front end's messages on it go
        # (`_reply_subshell_for`, by default the subshell the comm last sent from): always to
        # ours. Set before the button is shown, so no click can come earlier.
        widget.comm._reply_subshell_for = lambda data, default: subshell
    handle = display(widget, display_id=True)
    return StopButton(widget, handle)


def routes_to_subshells(comm: Any) -> bool:
    """Whether the kernel asks this comm where its messages go (ipykernel 7's
    `Comm._reply_subshell_for`, a private hook): without it a button cannot reach a blocked
    cell, so none is shown and the kernel's interrupt remains."""
    return callable(getattr(type(comm), "_reply_subshell_for", None))


def _widget_class() -> Any:
    try:
        import anywidget
        import traitlets
    except ImportError:
        return None

    class StopWidget(anywidget.AnyWidget):
        _esm = _ESM
        running = traitlets.Bool(True).tag(sync=True)
        outcome = traitlets.Unicode("done").tag(sync=True)

        def __repr__(self) -> str:
            return "(stop button)"

    return StopWidget


def _kernel() -> Any:
    from IPython import get_ipython

    shell = get_ipython()
    return getattr(shell, "kernel", None)


def _subshell(kernel: Any) -> str | None:
    """The id of this kernel's subshell for stop buttons, created on first use (None if the
    kernel has no subshells)."""
    existing = getattr(kernel, _SUBSHELL_ATTR, None)
    if existing is not None:
        return str(existing)
    thread = getattr(kernel, "shell_channel_thread", None)
    if thread is None or not getattr(kernel, "_supports_kernel_subshells", False):
        return None
    made: list[str] = []
    done = threading.Event()

    def create() -> None:  # subshells are made on the shell channel's own thread
        try:
            made.append(thread.manager._create_subshell())
        finally:
            done.set()

    thread.io_loop.add_callback(create)
    if not done.wait(5.0) or not made:
        return None
    setattr(kernel, _SUBSHELL_ATTR, made[0])
    return made[0]
