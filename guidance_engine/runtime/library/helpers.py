"""Helper functions callable from templates: arithmetic, comparison and small utilities.

They are plain Python functions (no program context), with the 0.0.64 names::

    {{add 1 2}} → 3     {{#if (contains text "yes")}}...{{/if}}     {{range 3}} → range(0, 3)
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from functools import reduce
from typing import Any


def add(*args: Any) -> Any:
    """Sum of the arguments (`{{add 1 2 3}}` → 6); strings and lists concatenate."""
    return reduce(lambda a, b: a + b, args)


def subtract(minuend: Any, subtrahend: Any) -> Any:
    return minuend - subtrahend


def multiply(*args: Any) -> Any:
    """Product of the arguments (`{{multiply 2 3}}` → 6)."""
    return reduce(lambda a, b: a * b, args)


def equal(*args: Any) -> bool:
    """True when every argument equals the first."""
    return all(arg == args[0] for arg in args[1:])


def notequal(left: Any, right: Any) -> bool:
    return bool(left != right)


def greater(left: Any, right: Any) -> bool:
    return bool(left > right)


def less(left: Any, right: Any) -> bool:
    return bool(left < right)


def contains(container: Any, item: Any) -> bool:
    """`{{contains text "yes"}}`: substring (or membership) test."""
    return item in container


def strip(text: str) -> str:
    return text.strip()


def not_(value: Any) -> bool:
    return not value


HELPERS: dict[str, Callable[..., Any]] = {
    "add": add,
    "subtract": subtract,
    "multiply": multiply,
    "equal": equal,
    "notequal": notequal,
    "greater": greater,
    "less": less,
    "contains": contains,
    "strip": strip,
    "len": builtins.len,
    "range": builtins.range,
    "not": not_,
    "callable": builtins.callable,
    # 0.0.64 also registered these operator names, for the prefix form `(== this.role 'user')`.
    "==": equal,
    ">": greater,
    "<": less,
    "!=": notequal,
    ">=": lambda left, right: left >= right,
    "<=": lambda left, right: left <= right,
}
