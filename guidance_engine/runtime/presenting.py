"""How a program is shown, as a hook: the display layer registers a `Presenter` here.

The runtime produces events and never renders them; `display/` (above it) knows text, HTML and
Jupyter. So `Program.__repr__`, its IPython hooks and its live view in a notebook ask the
registered presenter, which the package root installs when it is imported::

    use_presenter(DisplayPresenter())     # guidance_engine/__init__.py
    presenter().text(program)             # the readable text view of a program
"""

from __future__ import annotations

from typing import Any, Protocol


class Presenter(Protocol):
    """What a program needs from a display layer (the program is passed as itself)."""

    def view(self, program: Any) -> Any:
        """A view of the program built from its run's events."""
        ...

    def text(self, program: Any) -> str:
        """The readable text view (role turns, generated spans marked)."""
        ...

    def html(self, program: Any) -> str: ...

    def show(self, program: Any) -> None:
        """IPython's `_ipython_display_`."""
        ...

    def live(self, silent: bool | None, asynchronous: bool) -> bool:
        """Whether a call (an awaited one when `asynchronous`) shows its run live."""
        ...

    def run_live(self, program: Any, stream: Any) -> Any:
        """Consume `stream` (the run's events) while showing it; the program it ended with."""
        ...

    async def run_live_async(self, program: Any, stream: Any) -> Any: ...


class _Registry:
    """The one presenter of the process (set once, by the package root)."""

    current: Presenter | None = None


_REGISTRY = _Registry()


def use_presenter(presenter: Presenter) -> None:
    """Install the display layer's presenter."""
    _REGISTRY.current = presenter


def presenter() -> Presenter:
    """The installed presenter; importing `guidance_engine` installs it."""
    if _REGISTRY.current is None:
        raise RuntimeError("no presenter installed: import guidance_engine, which installs "
                           "guidance_engine.display's")
    return _REGISTRY.current
