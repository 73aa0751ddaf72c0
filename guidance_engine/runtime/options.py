"""Program options versus variables: both arrive as keyword arguments (`program(silent=True,
name='Bob')`), so a misspelled option would silently become a variable. A keyword one edit away
from an option (`silnet`) that the template never reads is refused with a did-you-mean::

    check_variables(("silnet",), compiled, {})
    # GuidanceError: unknown program option 'silnet'; did you mean 'silent'? ...
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from guidance_engine.errors import GuidanceError
from guidance_engine.template import instructions as ins

OPTIONS = ("llm", "silent", "stream", "async_mode", "caching", "await_missing", "log")


def check_variables(
    names: Iterable[str], compiled: ins.CompiledTemplate, variables: Mapping[str, Any]
) -> None:
    """Refuse a variable name one edit from an option when no template of the program reads it
    (this template, or a program passed in `variables` for `{{>partial}}`)."""
    suspects = [(name, option) for name in names for option in OPTIONS if _one_edit(name, option)]
    if not suspects:
        return
    used = names_read(compiled, variables)
    if used is None:
        return  # `{{parse}}` can read any name
    for name, option in suspects:
        if name not in used:
            raise GuidanceError(
                f"unknown program option {name!r}; did you mean {option!r}? ({name!r} is not a "
                f"variable the template reads either; the options are: {', '.join(OPTIONS)})"
            )


def names_read(compiled: ins.CompiledTemplate, variables: Mapping[str, Any]) -> set[str] | None:
    """Every name the template (and the partial programs among `variables`) reads, from the
    compiler's analysis; None when a `{{parse}}` makes that unknowable."""
    names = set(compiled.analysis.names)
    if "parse" in names:
        return None
    for value in variables.values():
        parts = getattr(value, "partial_parts", None)
        if callable(parts):
            nested = names_read(parts()[0], {})
            if nested is None:
                return None
            names |= nested
    return names


def _one_edit(a: str, b: str) -> bool:
    """One insertion, deletion, substitution or swap of neighbours turns `a` into `b`."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        swap = len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and (
            a[diff[1]] == b[diff[0]])
        return len(diff) == 1 or swap
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))
