"""Draw a `Timeline` as SVG: lanes top to bottom (planner, each task, joiner), time left to right.

Every bar has a `<title>` (the hover: the plan text; a task's tool, arguments, times and
observation; the joiner's decision); replans are dashed vertical lines. Text uses
`currentColor` and fills are semi-transparent, so the picture reads the same on light and dark
backgrounds. Everything from the run is escaped::

    svg = render_svg(Timeline.from_trace(result.trace))    # '<svg xmlns=... >...</svg>'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal, Protocol

WIDTH = 900
LABEL = 250  # the lane labels' column
LANE = 24
TOP = 30  # the axis
PAD = 12
_FILL = {"plan": "rgba(0, 120, 255, 0.45)", "task": "rgba(255, 150, 0, 0.55)",
         "error": "rgba(230, 40, 40, 0.55)", "join": "rgba(0, 170, 90, 0.5)"}
_FILE_STYLE = "background: white; color: #111"
_ROUND_TINT = ("", "rgba(190, 80, 255, 0.55)", "rgba(0, 190, 200, 0.55)")  # replanned tasks
BarKind = Literal["plan", "task", "error", "join", "replan"]


@dataclass
class Bar:
    """One span of time in one lane: `end` is None while it runs; `title` is the hover text."""

    lane: str
    label: str
    kind: BarKind
    start: float
    end: float | None = None
    title: str = ""
    round: int = 0


class Timeline(Protocol):
    """What the drawing reads of a run's timeline (`timeline.Timeline` is the one there is)."""

    @property
    def question(self) -> str: ...

    @property
    def answer(self) -> str | None: ...

    @property
    def done(self) -> bool: ...

    @property
    def bars(self) -> Sequence[Bar]: ...

    @property
    def replans(self) -> list[float]: ...

    def lanes(self) -> list[str]: ...

    def now(self) -> float: ...

    def end(self) -> float: ...


def render_svg(timeline: Timeline) -> str:
    """The whole picture as one `<svg>` element."""
    lanes = timeline.lanes()
    now = timeline.now()
    span = max(timeline.end(), now if not timeline.done else 0.0, 0.1)
    scale = (WIDTH - LABEL - 2 * PAD) / span
    height = TOP + LANE * len(lanes) + PAD + (10 if timeline.replans else 0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="llmcompiler-timeline" '
             f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
             'font-family="sans-serif" font-size="12" fill="currentColor">']
    parts += _axis(span, scale, height)
    for row, lane in enumerate(lanes):
        y = TOP + row * LANE
        label = _lane_label(timeline, lane)
        parts.append(f'<text x="{PAD}" y="{y + 16}" class="lane">{escape(label, quote=False)}'
                     "</text>")
        parts.append(f'<line x1="{LABEL}" x2="{WIDTH - PAD}" y1="{y + LANE}" y2="{y + LANE}" '
                     'stroke="currentColor" stroke-opacity="0.1"/>')
    for bar in timeline.bars:
        parts.append(_bar(bar, lanes.index(bar.lane), scale, now))
    for number, at in enumerate(timeline.replans, start=1):
        x = _x(at, scale)
        parts.append(f'<line class="replan" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP - 6}" '
                     f'y2="{height - PAD}" stroke="rgb(190, 80, 255)" stroke-dasharray="4 3">'
                     f'<title>replan {number} at {at:.2f} s</title></line>'
                     f'<text x="{x + 3:.1f}" y="{height - 2}" font-size="10" '
                     f'fill="rgb(190, 80, 255)">replan {number}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(timeline: Timeline) -> str:
    """The SVG with a one-line caption (status, answer, legend), for notebooks and files."""
    status = "done" if timeline.done else f"running · {timeline.now():.1f} s"
    answer = f" · answer: {timeline.answer}" if timeline.answer is not None else ""
    legend = " · ".join(f'<span style="background: {fill}; padding: 0 6px">{name}</span>'
                        for name, fill in (("planner", _FILL["plan"]), ("task", _FILL["task"]),
                                           ("failed task", _FILL["error"]),
                                           ("joiner", _FILL["join"])))
    question = (f'<div style="font-weight: bold; margin-bottom: 4px">{escape(timeline.question)}'
                "</div>" if timeline.question else "")
    return (f'<div class="llmcompiler-run" data-status="{"done" if timeline.done else "running"}"'
            ' style="font-family: sans-serif; font-size: 13px">'
            f"{question}{render_svg(timeline)}"
            f'<div style="opacity: 0.8">{escape(status + answer)} · {legend}</div></div>')


def _axis(span: float, scale: float, height: int) -> list[str]:
    step = _tick_step(span)
    out = []
    for i in range(int(span / step) + 1):
        at = i * step
        x = _x(at, scale)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP - 4}" y2="{height - PAD}" '
                   'stroke="currentColor" stroke-opacity="0.15"/>')
        out.append(f'<text x="{x:.1f}" y="{TOP - 10}" text-anchor="middle" '
                   f'opacity="0.7">{_seconds(at, step)}</text>')
    return out


def _bar(bar: Bar, row: int, scale: float, now: float) -> str:
    end = bar.end if bar.end is not None else max(now, bar.start)
    x, y = _x(bar.start, scale), TOP + row * LANE + 4
    width = max(2.0, (end - bar.start) * scale)
    fill = _FILL["join" if bar.kind == "replan" else bar.kind]
    if bar.kind == "task" and 0 < bar.round < len(_ROUND_TINT):
        fill = _ROUND_TINT[bar.round]
    running = ' stroke="currentColor" stroke-dasharray="3 2"' if bar.end is None else ""
    inside = _inside(bar, width)
    label = f'<text x="{x + 4:.1f}" y="{y + 12}" font-size="11">{inside}</text>' if inside else ""
    return (f'<g class="bar {bar.kind}" data-lane="{escape(bar.lane, quote=True)}">'
            f"<title>{escape(bar.title or bar.label)}</title>"
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{LANE - 8}" rx="3" '
            f'fill="{fill}"{running}/>{label}</g>')


def _inside(bar: Bar, width: float) -> str:
    """A short label inside the bar when it fits (the joiner's decision, a plan's round)."""
    text = bar.label if bar.kind in ("plan", "join") else ""
    if bar.kind == "join" and bar.title.startswith("joiner: "):
        text = bar.title.split("\n")[0][len("joiner: "):].split("(")[0]
    return escape(text) if text and width > 7 * len(text) + 8 else ""


def _lane_label(timeline: Timeline, lane: str) -> str:
    if not lane.startswith("task "):
        return lane
    line = next((b.label for b in timeline.bars if b.lane == lane), lane)
    return line if len(line) <= 34 else line[:33] + "…"


def _x(at: float, scale: float) -> float:
    return LABEL + at * scale


def _tick_step(span: float) -> float:
    """A round step giving about 6 to 12 ticks over `span` seconds."""
    raw = span / 8
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _seconds(at: float, step: float) -> str:
    digits = max(0, -math.floor(math.log10(step)))
    return f"{at:.{digits}f} s"


def write_picture(timeline: Timeline, path: str) -> None:
    """Write the picture to `path`: a bare SVG for `.svg`, a standalone HTML page otherwise."""
    if path.lower().endswith(".svg"):
        # A file viewer has no theme to inherit: dark text on white.
        text = render_svg(timeline).replace(
            'fill="currentColor">', f'fill="currentColor" style="{_FILE_STYLE}">', 1)
    else:
        text = ("<!doctype html><html><head><meta charset='utf-8'><title>LLMCompiler run"
                f"</title></head><body style='margin: 16px'>{render_html(timeline)}</body></html>")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
