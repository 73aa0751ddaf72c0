"""Argument checks for model requests: types, value ranges and unknown keywords (with a
did-you-mean), each error naming the argument, so a bad `gen`/`select` argument or session call
fails before any model call. The request builder (`requests.py`) runs them for every caller; the
template layer runs them ahead of time on the values it already knows.

    check_values("gen", {"temperature": -1})
    # ArgumentError: temperature must be a number >= 0; found int -1

`check_keywords` refuses keywords the command does not take, unless the model declares it
accepts them (`LLM.sampling_kwargs`, for example `repetition_penalty` on Transformers).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from guidance_engine.errors import GuidanceError


class ArgumentError(GuidanceError):
    """An argument has the wrong type or value; `argument` names it (a template error then points
    at that keyword of the call)."""

    def __init__(self, message: str, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument


_TYPE_NAMES = {str: "a string", int: "an int", float: "a number", bool: "a bool",
               dict: "a dict", list: "a list", type(None): "None"}


def expect(value: Any, types: type | tuple[type, ...], what: str) -> None:
    """Raise ArgumentError unless `value` is one of `types` (`what` names the argument).

    `expect("3", (int, type(None)), "max_tokens")` raises
    "max_tokens must be an int or None; found str '3'".
    """
    wanted = types if isinstance(types, tuple) else (types,)
    # True is an int to Python, but max_tokens=True is a mistake.
    mistaken_bool = isinstance(value, bool) and bool not in wanted
    if mistaken_bool or not isinstance(value, wanted):
        names = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in wanted)
        raise ArgumentError(f"{what} must be {names}; found {type(value).__name__} {value!r}",
                            argument=what)


def as_strings(value: Any, what: str) -> tuple[str, ...]:
    """A stop-like argument: None, a string or a list of strings, as a tuple."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ArgumentError(
        f"{what} must be a string or a list of strings; found {type(value).__name__} {value!r}",
        argument=what,
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _int_at_least(minimum: int, optional: bool) -> Callable[[Any], str | None]:
    wanted = f"an int >= {minimum}" + (" or None" if optional else "")

    def check(value: Any) -> str | None:
        if (optional and value is None) or (_is_int(value) and value >= minimum):
            return None
        return wanted

    return check


def _temperature(value: Any) -> str | None:
    return None if _is_number(value) and value >= 0 else "a number >= 0"


def _top_p(value: Any) -> str | None:
    return None if _is_number(value) and 0 < value <= 1 else "a number > 0 and <= 1"


def _variable_name(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else "a variable name (a string)"


_GEN_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "n": _int_at_least(1, optional=False),
    "max_tokens": _int_at_least(0, optional=True),
    "temperature": _temperature,
    "top_p": _top_p,
    "logprobs": _int_at_least(0, optional=True),
    "seed": _int_at_least(0, optional=True),
}


def _number_between(low: float, high: float, low_open: bool, high_open: bool) -> Callable[
    [Any], str | None
]:
    wanted = f"a number {'>' if low_open else '>='} {low}"
    if high != math.inf:
        wanted += f" and {'<' if high_open else '<='} {high}"

    def check(value: Any) -> str | None:
        if value is None:
            return None
        if not _is_number(value):
            return wanted
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        return None if above and below else wanted

    return check


# The model-specific sampling keywords (checked once a backend has accepted them).
_GEN_CHECKS.update({
    "repetition_penalty": _number_between(0, math.inf, low_open=True, high_open=True),
    "top_k": _int_at_least(0, optional=True),
    "typical_p": _number_between(0, 1, low_open=True, high_open=False),
    "min_p": _number_between(0, 1, low_open=False, high_open=False),
    "no_repeat_ngram_size": _int_at_least(0, optional=True),
    "epsilon_cutoff": _number_between(0, 1, low_open=False, high_open=True),
})
_SELECT_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "temperature": _temperature,
    "seed": _int_at_least(0, optional=True),
    "logprobs": _variable_name,  # select saves the options' scores into this variable
}
CHECKS = {"gen": _GEN_CHECKS, "select": _SELECT_CHECKS}


def check_values(command: str, values: Mapping[str, Any]) -> None:
    """Raise ArgumentError (naming the argument) for the first value out of its range."""
    checks = CHECKS.get(command, {})
    for name, value in values.items():
        check = checks.get(name)
        wanted = check(value) if check is not None else None
        if wanted is not None:
            raise ArgumentError(
                f"{name} must be {wanted}; found {type(value).__name__} {value!r}", argument=name
            )


def check_keywords(
    given: Iterable[str], known: Iterable[str], accepted: Iterable[str] = (), where: str = ""
) -> None:
    """Raise ArgumentError for a keyword that is neither `known` to the command nor `accepted` by
    the model, suggesting the closest known name (`where`: " to the session call")."""
    known = list(known)
    accepted = sorted(accepted)
    for name in given:
        if name in known or name in accepted:
            continue
        raise ArgumentError(unknown_keyword(name, [*known, *accepted], accepted, where),
                            argument=name)


def unknown_keyword(
    name: str, candidates: list[str], accepted: list[str] | None = None, where: str = ""
) -> str:
    """`unknown keyword argument 'max_token'; did you mean 'max_tokens'?`"""
    message = f"unknown keyword argument {name!r}{where}"
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    extra = f" (this model also accepts: {', '.join(accepted)})" if accepted else ""
    return f"{message}; expected one of: {', '.join(sorted(candidates))}{extra}"
