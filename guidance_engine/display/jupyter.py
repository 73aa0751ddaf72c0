"""Live display in Jupyter: one output cell updated with each partial program as it streams.

Used by `Program.__call__` when running inside an IPython kernel and `silent` is not True;
IPython is imported only then, so scripts never need it::

    out = program()     # in a notebook: the cell shows the text growing, then the result
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from typing import Any, Protocol, TypeVar


class _Displayable(Protocol):
    def _repr_html_(self) -> str: ...


def should_display(silent: bool | None) -> bool:
    """Live display unless silent=True; by default only inside a Jupyter kernel.

    silent=False without IPython installed (a plain script) runs without display rather than
    failing: there is nowhere to show the live output.
    """
    if silent is None:
        return "ipykernel" in sys.modules
    return not silent and _ipython_available()


def _ipython_available() -> bool:
    if sys.modules.get("IPython") is not None:
        return True
    # find_spec returns None for a module that is not installed (or is blocked in sys.modules).
    return importlib.util.find_spec("IPython") is not None


P = TypeVar("P", bound=_Displayable)


def show_live(parts: Iterator[P]) -> P:
    """Show each partial program in one updating output; returns the last one."""
    from IPython.display import HTML, display

    handle: Any = None
    last: P | None = None
    for last in parts:
        html = HTML(last._repr_html_())
        if handle is None:
            handle = display(html, display_id=True)
        else:
            handle.update(html)
    assert last is not None, "a program stream always ends with the finished program"
    return last
