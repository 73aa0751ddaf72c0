"""Healed and forced tokens of a local gen, located in its value for the view and the log.

The decode loop records the byte range of each token that healing or fast-forward produced
(`raw` holds the healed prefix, then the value); `value_marks` turns those into `TokenMark`s
over the value's characters, merging neighbours of one kind::

    >>> value_marks(b" John", b" ", "John", [("healed", 0, 5)])
    (TokenMark(kind='healed', start=0, end=4, chosen=' John', backed_up=' '),)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from guidance_engine.llms.base import TokenMark

MarkKind = Literal["healed", "forced"]


def value_marks(
    raw: bytes, heal: bytes, text: str, spans: Sequence[tuple[MarkKind, int, int]]
) -> tuple[TokenMark, ...]:
    """`spans` are (kind, start, end) byte ranges in `raw`; `text` is the value (stop cut)."""
    marks: list[TokenMark] = []
    value = raw[len(heal):]
    for kind, start, end in _merged(spans):
        first = _chars(value, max(0, start - len(heal)), len(text))
        last = _chars(value, max(0, end - len(heal)), len(text))
        if kind == "forced" and first >= last:
            continue  # forced bytes past the value's end (a stop string the constraint wrote)
        chosen = raw[start:end].decode("utf-8", errors="replace")
        backed_up = heal.decode("utf-8", errors="replace") if kind == "healed" else ""
        marks.append(TokenMark(kind, first, last, chosen, backed_up))
    return tuple(marks)


def _merged(spans: Sequence[tuple[MarkKind, int, int]]) -> list[tuple[MarkKind, int, int]]:
    """Adjacent spans of one kind as one (a run of forced tokens is one mark)."""
    out: list[tuple[MarkKind, int, int]] = []
    for kind, start, end in spans:
        if out and out[-1][0] == kind and out[-1][2] == start:
            out[-1] = (kind, out[-1][1], end)
        else:
            out.append((kind, start, end))
    return out


def _chars(value: bytes, offset: int, limit: int) -> int:
    """Characters of `value[:offset]` (an incomplete character at the cut not counted)."""
    return min(limit, len(value[:offset].decode("utf-8", errors="ignore")))
