"""Arguments of the block commands (`each`, `geneach`, `block`, role blocks), as plain data.

The interpreter owns the frames; these functions only check and normalise the 0.0.64
signatures, so `{{#each items hidden=True item_name='x'}}` binds like a Python call and a bad
argument is reported with its position like any other command's::

    >>> each_options([10, 20]).items
    [(None, 10), (None, 20)]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from guidance_engine.llms.arguments import ArgumentError, as_strings, expect

ROLE_BLOCKS = ("system", "user", "assistant", "function")


@dataclass(frozen=True)
class EachOptions:
    items: list[tuple[Any, Any]]  # (key, value); key is None for lists
    is_mapping: bool
    hidden: bool
    parallel: bool
    item_name: str
    start_index: int


@dataclass(frozen=True)
class GeneachOptions:
    list_name: str
    stop: tuple[str, ...] | None  # None: infer from the text after the block; () : never ask
    max_iterations: int
    min_iterations: int
    num_iterations: int | None
    hidden: bool
    join: str
    single_call: bool
    single_call_temperature: float
    single_call_max_tokens: int
    single_call_top_p: float


@dataclass(frozen=True)
class BlockOptions:
    role: str | None  # None for `{{#block}}`
    name: str | None
    hidden: bool
    role_kwargs: Mapping[str, Any] = field(default_factory=dict)


def each_options(
    items: Any,
    hidden: bool = False,
    parallel: bool = False,
    item_name: str = "this",
    start_index: int = 0,
) -> EachOptions:
    """`{{#each items}}`: a list (or any iterable) or a dict (then `@key` is set)."""
    expect(item_name, str, "item_name")
    expect(start_index, int, "start_index")
    if isinstance(items, Mapping):
        pairs = list(items.items())
    elif isinstance(items, Iterable) and not isinstance(items, str | bytes):
        pairs = [(None, item) for item in items]
    elif items is None:
        pairs = []
    else:
        raise ArgumentError(
            f"each needs a list or a dict to iterate over; found {type(items).__name__} {items!r}"
        )
    return EachOptions(pairs, isinstance(items, Mapping), bool(hidden), bool(parallel),
                       item_name, start_index)


def geneach_options(
    list_name: str,
    stop: Any = None,
    max_iterations: int = 100,
    min_iterations: int = 0,
    num_iterations: int | None = None,
    hidden: bool = False,
    join: str = "",
    single_call: bool = False,
    single_call_temperature: float = 0.0,
    single_call_max_tokens: int = 500,
    single_call_top_p: float = 1.0,
) -> GeneachOptions:
    """`{{#geneach 'items' stop='</list>'}}`: the model writes items until it writes `stop`."""
    expect(list_name, str, "the list name")
    expect(max_iterations, int, "max_iterations")
    expect(min_iterations, int, "min_iterations")
    expect(num_iterations, (int, type(None)), "num_iterations")
    expect(join, str, "join")
    stops = () if stop is False else None if stop is None else as_strings(stop, "stop")
    return GeneachOptions(
        list_name, stops, max_iterations, min_iterations, num_iterations, bool(hidden), join,
        bool(single_call), float(single_call_temperature), int(single_call_max_tokens),
        float(single_call_top_p),
    )


def block_options(name: str | None = None, hidden: bool = False) -> BlockOptions:
    """`{{#block 'name' hidden=True}}`: capture the body as `name`, drop it from the context."""
    expect(name, (str, type(None)), "name")
    return BlockOptions(None, name, bool(hidden))


def role_options(
    role_name: str | None = None, hidden: bool = False, name: str | None = None, **kwargs: Any
) -> BlockOptions:
    """`{{#role 'user'}}` (or `name='user'`); extra keyword arguments go to the role markup, and
    so does `name` when the role is given first (`{{#role 'user' name='bob'}}`, as 0.0.64)."""
    if role_name is not None and name is not None:
        kwargs = {"name": name, **kwargs}
    role = role_name if role_name is not None else name
    if role is None:
        raise ArgumentError("role needs the role's name: {{#role 'user'}}...{{/role}}")
    expect(role, str, "role_name")
    return BlockOptions(role, None, bool(hidden), dict(kwargs))


def fixed_role_options(role: str) -> Any:
    """The options function of `{{#system}}`, `{{#user}}`, ...: like role, without the name."""

    def options(hidden: bool = False, **kwargs: Any) -> BlockOptions:
        return BlockOptions(role, None, bool(hidden), dict(kwargs))

    options.__name__ = role
    return options


BLOCK_COMMANDS: dict[str, Any] = {
    "block": block_options,
    "role": role_options,
    **{role: fixed_role_options(role) for role in ROLE_BLOCKS},
}


# One part of a single_call geneach body: ("text", fixed text), ("index", None) for `{{@index}}`
# or ("gen", key), where key is None for `{{gen 'this'}}` and "x" for `{{gen 'this.x'}}`.
BodyPart = tuple[str, str | None]


def single_call_items(text: str, parts: list[BodyPart], join: str) -> list[Any]:
    """Split the text of one `single_call` generation into list items, following the body.

    >>> single_call_items("\\n- a\\n- b", [("text", "\\n- "), ("gen", None)], "")
    ['a', 'b']
    """
    return split_single_call(text, parts, join)[0]


def split_single_call(
    text: str, parts: list[BodyPart], join: str, limit: int | None = None
) -> tuple[list[Any], int]:
    """The items of a `single_call` text (at most `limit`) and where the last one ends."""
    pattern, keys = "", []
    for index, (kind, value) in enumerate(parts):
        if kind == "text":
            pattern += re.escape(value or "")
        elif kind == "index":
            pattern += "[0-9]+"  # `{{@index}}`: the item's number, written by the model
        else:
            pattern += f"(?P<g{index}>.*?)"
            keys.append((f"g{index}", value))
    opening = parts[0][1] if parts and parts[0][0] == "text" else ""
    boundary = join + (opening or "")
    ending = f"(?={re.escape(boundary)}|$)" if boundary else "$"
    item_re = re.compile(pattern + ending, re.DOTALL)
    items: list[Any] = []
    position = 0
    end = 0
    while position < len(text) and (limit is None or len(items) < limit):
        match = item_re.match(text, position)
        if match is None:
            break
        captured = {key: match.group(group) for group, key in keys}
        items.append(captured.get(None, "") if None in captured else
                     {key: value for key, value in captured.items() if key is not None})
        position = end = match.end()
        if join and text.startswith(join, position):
            position += len(join)
        elif not boundary or match.end() == match.start():
            break  # no way to find another item (and never loop without progress)
    return items, end
