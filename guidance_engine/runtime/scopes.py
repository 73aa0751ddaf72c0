"""Scopes: program variables, loop frames, the execution state, and the lookup rules.

Lookup order is: loop-local scopes (innermost first: `this`, `@index`, `item_name`, ...), then
program variables, then built-ins. On a value, `a.b` tries the mapping key before the attribute,
so a variable named `items` or `keys` never resolves to a dict method::

    >>> get_attr({"items": [1]}, "items")
    [1]
"""

from __future__ import annotations

import _string
import functools
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from guidance_engine.runtime.prompt import Run

if TYPE_CHECKING:  # the option types are only annotations here (and import this module)
    from guidance_engine.runtime.library.loops import BlockOptions, EachOptions, GeneachOptions


class _Missing:
    """Sentinel for "no such name" (None is a legitimate value)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass
class Variables:
    """The program's variables; a fork journals its writes so they can be replayed in order.

    Parallel `each` iterations run on forks; afterwards the parent replays each fork's journal
    in iteration order, so the result does not depend on which iteration finished first.
    """

    values: dict[str, Any] = field(default_factory=dict)
    journal: list[tuple[str, str, Any]] | None = None

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def set(self, name: str, value: Any) -> None:
        self.values[name] = value
        if self.journal is not None:
            self.journal.append(("set", name, value))

    def append(self, name: str, value: Any) -> None:
        """Append to the list variable `name` (created if missing); never mutates a shared list."""
        current = self.values.get(name)
        items = [] if current is None else list(current) if _is_list(current) else [current]
        self.values[name] = [*items, value]
        if self.journal is not None:
            self.journal.append(("append", name, value))

    def pop(self, name: str) -> Any:
        value = self.values.pop(name)
        if self.journal is not None:
            self.journal.append(("pop", name, None))
        return value

    def fork(self) -> Variables:
        return Variables(copy_value(self.values), journal=[])

    def replay(self, journal: Sequence[tuple[str, str, Any]]) -> None:
        for op, name, value in journal:
            if op == "set":
                self.set(name, value)
            elif op == "append":
                self.append(name, value)
            elif name in self.values:
                self.pop(name)

    def copy(self, memo: dict[int, Any] | None = None) -> Variables:
        return Variables(copy_value(self.values, memo))


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def copy_value(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """Copy containers (dicts, lists) recursively; other objects (models, functions) are shared.

    Pass one `memo` to several calls to keep shared containers shared in the copies.

    >>> a = {"x": [1]}; b = copy_value(a); b["x"].append(2); a
    {'x': [1]}
    """
    if memo is None:
        memo = {}
    if not isinstance(value, dict | list):
        return value
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, dict):
        copied: dict[Any, Any] = {}
        memo[id(value)] = copied
        copied.update((key, copy_value(item, memo)) for key, item in value.items())
        return copied
    items: list[Any] = []
    memo[id(value)] = items
    items.extend(copy_value(item, memo) for item in value)
    return items


def lookup(
    name: str,
    scopes: Sequence[Mapping[str, Any]],
    variables: Variables,
    builtins: Mapping[str, Any],
) -> Any:
    """The value of `name`, or MISSING; `scopes` are innermost last."""
    for scope in reversed(scopes):
        if name in scope:
            return scope[name]
    if name in variables:
        return variables.values[name]
    return builtins.get(name, MISSING)


def get_attr(obj: Any, name: str) -> Any:
    """`obj.name`: a mapping key first, then an attribute; raises LookupError when neither.

    Names starting with `_` are never attributes, and a string's `format`/`format_map` are the
    sandboxed ones of `SafeFormatter`, so no template can walk to `__globals__`.
    """
    if isinstance(obj, Mapping):
        if name in obj:
            return obj[name]
    elif isinstance(obj, str) and name in ("format", "format_map"):
        return functools.partial(getattr(_SAFE_FORMATTER, name), obj)
    elif not name.startswith("_") and hasattr(obj, name):
        return getattr(obj, name)
    kind = "key or attribute" if isinstance(obj, Mapping) else "attribute"
    raise LookupError(f"{type(obj).__name__} value has no {kind} {name!r}")


class SafeFormatter(string.Formatter):
    """`str.format` for templates: a replacement field may not read an attribute whose name
    starts with `_` (`'{0.__class__}'`), as in Jinja's sandbox; items and public attributes work.

    >>> SafeFormatter().format("{0[a]}-{1:>3}", {"a": "x"}, 7)
    'x-  7'
    """

    def format_map(self, text: str, mapping: Mapping[str, Any]) -> str:
        return self.vformat(text, (), mapping)

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        first, rest = _string.formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attribute, key in rest:
            if is_attribute and str(key).startswith("_"):
                raise ValueError(
                    f"format field {{{field_name}}} reads the attribute {key!r}; templates "
                    "cannot read attributes whose names start with '_'"
                )
            obj = getattr(obj, key) if is_attribute else obj[key]
        return obj, first


_SAFE_FORMATTER = SafeFormatter()


def get_item(obj: Any, index: Any) -> Any:
    """`obj[index]` with Python semantics (`arr[-1]` is the last item)."""
    try:
        return obj[index]
    except (KeyError, IndexError) as exc:
        raise LookupError(f"{type(obj).__name__} value has no item {index!r}") from exc
    except TypeError as exc:
        raise LookupError(
            f"cannot index a {type(obj).__name__} value with {type(index).__name__} {index!r}"
        ) from exc


def set_path(container: Any, key: str, value: Any) -> None:
    """Set `container.key` (a mapping key, else an attribute); used for `set 'this.x'`."""
    if isinstance(container, dict):
        container[key] = value
    else:
        setattr(container, key, value)


# ---------------------------------------------------------------- execution state


@dataclass
class LoopFrame:
    """One running each/geneach loop; `scope` holds `this`, `@index`, ... of this iteration."""

    start: int  # index of the LoopStart
    text_start: int  # text length when the loop began (hidden loops cut back to it)
    scope: dict[str, Any] = field(default_factory=dict)
    count: int = 0  # iterations begun
    each: EachOptions | None = None
    geneach: GeneachOptions | None = None
    position: int = -1  # each: index in `each.items` of the current iteration
    list_index: int = -1  # geneach: index of the current item in the list variable


@dataclass
class BlockFrame:
    """One open `{{#block}}` or role block."""

    start: int  # index of the EnterBlock
    text_start: int
    options: BlockOptions


Frame = LoopFrame | BlockFrame


@dataclass
class ExecState:
    """Everything needed to continue an execution: resuming is running a copy of this."""

    variables: Variables
    pc: int = 0
    text: str = ""
    frames: list[Frame] = field(default_factory=list)
    waiting_for: str | None = None  # set when suspended
    done: bool = False
    runs: list[Run] = field(default_factory=list)  # provenance of `text` (runtime/prompt.py)


def copy_state(state: ExecState) -> ExecState:
    """A copy sharing no containers with `state` (loop items stay linked to their lists)."""
    memo: dict[int, Any] = {}
    variables = state.variables.copy(memo)
    frames = [_copy_frame(f, memo) for f in state.frames]
    return ExecState(variables, state.pc, state.text, frames, state.waiting_for, state.done,
                     list(state.runs))


def _copy_frame(frame: Frame, memo: dict[int, Any]) -> Frame:
    """A loop frame whose current and remaining items are the copies of the copied variables,
    so `set 'this.x'` after a resume writes into the resumed program's own list."""
    if not isinstance(frame, LoopFrame):
        return frame
    each = frame.each
    if each is not None:
        each = replace(each, items=[(key, copy_value(value, memo)) for key, value in each.items])
    return replace(frame, scope=copy_value(frame.scope, memo), each=each)
