"""Provenance of the program text: which runs came from markup, the template, values or the model.

The execution keeps its text as one string (fast to append and cut) plus a list of `Run`s, each
marking where a run of one kind inside one role begins. `segments` turns them into the
structured prompt a backend receives::

    >>> runs: list[Run] = []
    >>> add_run(runs, 0, "template", None); add_run(runs, 6, "value", None)
    >>> [(s.text, s.kind) for s in segments("Name: Bob", runs)]
    [('Name: ', 'template'), ('Bob', 'value')]
"""

from __future__ import annotations

from dataclasses import dataclass

from guidance_engine.llms.base import Segment, SegmentKind


@dataclass(frozen=True, slots=True)
class Run:
    """Text from offset `start` up to the next run's start has kind `kind`, inside `role`."""

    start: int
    kind: SegmentKind
    role: str | None


def add_run(runs: list[Run], start: int, kind: SegmentKind, role: str | None) -> None:
    """Record that text appended at `start` has `kind` and `role` (merging with the last run)."""
    if runs and (runs[-1].kind, runs[-1].role) == (kind, role):
        return
    if runs and runs[-1].start == start:
        runs.pop()  # the previous run never received text
        if runs and (runs[-1].kind, runs[-1].role) == (kind, role):
            return
    runs.append(Run(start, kind, role))


def cut_runs(runs: list[Run], length: int) -> None:
    """Drop the runs that begin at or after `length` (the text was cut back to it)."""
    while runs and runs[-1].start >= length:
        runs.pop()


def runs_after(runs: list[Run], base: int) -> list[Run]:
    """The runs covering text from `base` on, with offsets relative to `base`."""
    out: list[Run] = []
    for i, run in enumerate(runs):
        end = runs[i + 1].start if i + 1 < len(runs) else None
        if end is not None and end <= base:
            continue
        out.append(Run(max(run.start - base, 0), run.kind, run.role))
    return out


def segments(text: str, runs: list[Run]) -> tuple[Segment, ...]:
    """The structured prompt for `text`; text before the first run counts as template."""
    out: list[Segment] = []
    bounds = [run.start for run in runs] + [len(text)]
    if runs and runs[0].start > 0:
        out.append(Segment(text[: runs[0].start]))
    elif not runs and text:
        out.append(Segment(text))
    for run, end in zip(runs, bounds[1:], strict=True):
        if end > run.start:
            out.append(Segment(text[run.start : end], run.kind, run.role))
    return tuple(out)
