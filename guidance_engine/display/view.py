"""The program view's model: what a run looks like so far, built from its events only.

`ProgramView` folds the event stream into segments (fixed text, values, generated spans with
their hover details, role turns), the streamed part of a gen still running, the template not
yet run, the status and progress. The HTML and text renderers read this model and nothing else::

    view = ProgramView(template)
    for event in events:
        view.feed(event)
    render_html(view), render_text(view)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from guidance_engine.llms.base import TokenMark
from guidance_engine.runtime import events as ev

Status = Literal["running", "done", "waiting", "interrupted", "error"]


@dataclass
class Segment:
    """A piece of output: `kind` is text, value, gen, select, or role (markup, not shown);
    role-open / role-close are zero-length turn boundaries."""

    kind: str
    text: str
    name: str | None = None
    title: str = ""  # hover text: the variable, logprobs or option probabilities
    role: str | None = None
    serial: int = 0  # gens and selects are numbered in order, so neighbours look distinct
    start: int = 0  # output offset of the segment's first character
    marks: tuple[TokenMark, ...] = ()  # a gen's healed / forced tokens (offsets in `text`)

    def pieces(self) -> list[tuple[str, TokenMark | None]]:
        """The text cut at its marks: (text, mark or None), in order, nothing left out."""
        out: list[tuple[str, TokenMark | None]] = []
        at = 0
        for mark in self.marks:
            start, end = max(mark.start, at), min(mark.end, len(self.text))
            if start >= end:
                continue
            if start > at:
                out.append((self.text[at:start], None))
            out.append((self.text[start:end], mark))
            at = end
        if at < len(self.text) or not out:
            out.append((self.text[at:], None))
        return out


@dataclass
class ProgramView:
    """The state of one run as its events describe it."""

    template: str
    segments: list[Segment] = field(default_factory=list)
    length: int = 0  # characters of output (role markup included, as in program.text)
    pending: str = ""  # streamed text of the gen in progress (sample 0)
    pending_name: str | None = None
    streaming: bool = False  # a gen has started and not ended (GenStart seen, GenEnd not yet)
    cut: str = ""  # the streamed text of a gen the run's end cut off (shown, never saved)
    cut_name: str | None = None
    offset: int = 0  # template offset where the not-yet-run part starts
    status: Status = "running"
    message: str = ""  # why it stopped (error or interrupt)
    remainder: str | None = None  # the template left, once the run has ended
    chunks: int = 0  # streamed deltas so far (about one per token on local models)
    tokens: int = 0  # tokens of finished model calls
    started: float = field(default_factory=time.monotonic)
    timed: bool = True  # False for a view rebuilt after the run: its clock says nothing
    ended: float | None = None
    _serial: int = 0
    _title: str = ""  # hover text for the next generated text (from GenEnd / Selected)
    _generated: str = "gen"  # the view kind of the next generated text
    _marks: tuple[TokenMark, ...] = ()  # healed / forced tokens of the next generated text

    # ------------------------------------------------------------ folding events

    def feed(self, event: ev.Event) -> None:
        """Update the view with one event."""
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def _text(self, event: ev.TextEvent) -> None:
        title, kind = "", _KINDS.get(event.kind, "text")
        marks: tuple[TokenMark, ...] = ()
        if event.kind == "generated":
            self._serial += 1
            kind = self._generated
            title, self._title = self._title or _plain_title(event), ""
            marks, self._marks = self._marks, ()
        self.segments.append(Segment(kind, event.text, event.name, title,
                                     serial=self._serial, start=self.length, marks=marks))
        self.length += len(event.text)
        self.pending, self.pending_name = "", None
        self._move(event.span, end=True)

    def _gen_start(self, event: ev.GenStart) -> None:
        self.pending, self.pending_name, self.streaming = "", event.name, True

    def _chunk(self, event: ev.GenChunk) -> None:
        if event.index == 0:
            self.pending += event.text
            self.chunks += 1
            self._move(event.span, end=True)

    def _gen_end(self, event: ev.GenEnd) -> None:
        self.streaming = False
        self.tokens += event.tokens
        self._title, self._generated, self._marks = gen_title(event), "gen", event.marks

    def _selected(self, event: ev.Selected) -> None:
        self._title, self._generated, self._marks = select_title(event), "select", ()

    def _role_start(self, event: ev.RoleStart) -> None:
        self.segments.append(Segment("role-open", "", role=event.role, start=self.length))

    def _role_end(self, event: ev.RoleEnd) -> None:
        self.segments.append(Segment("role-close", "", role=event.role, start=self.length))

    def _reset(self, event: ev.TextReset) -> None:
        kept: list[Segment] = []
        for seg in self.segments:
            if seg.kind == "role-open" and seg.start >= event.length:
                continue  # the turn opened inside the removed text
            if seg.kind == "role-close" and seg.start > event.length:
                continue
            if seg.start + len(seg.text) > event.length:
                if seg.start >= event.length and seg.text:
                    continue
                seg.text = seg.text[: event.length - seg.start]
            kept.append(seg)
        self.segments = kept
        self.length = min(self.length, event.length)
        self.pending, self.pending_name = "", None
        self._move(event.span, end=True)

    def _suspended(self, event: ev.Suspended) -> None:
        self._move(event.span, end=False)

    def _finished(self, event: ev.Finished) -> None:
        program = event.program
        waiting = program is not None and not program.done
        self._end("waiting" if waiting else "done", "", program)
        if waiting:
            self.message = f"waiting for {program.waiting_for!r}"

    def _interrupted(self, event: ev.Interrupted) -> None:
        span = event.program.stopped_at() if event.program is not None else None
        where = f" at {span.describe()}" if span is not None else ""
        self._end("interrupted", f"interrupted ({event.reason}){where}", event.program)

    def _failed(self, event: ev.Failed) -> None:
        self._end("error", f"{type(event.error).__name__}: {event.error}", event.program)

    def _end(self, status: Status, message: str, program: Any) -> None:
        if self.streaming and status in ("interrupted", "error"):
            # The gen never returned: its variable keeps no half-written value; say so.
            self.cut, self.cut_name = self.pending, self.pending_name
            message += "; " + cut_note(self.cut_name, status)
        self.status, self.message = status, message
        self.pending, self.pending_name, self.streaming = "", None, False
        self.ended = time.monotonic()
        if program is not None:
            self.remainder = program.remaining_template()

    def _move(self, span: Any, end: bool) -> None:
        if span is not None and span.end <= len(self.template):
            self.offset = span.end if end else span.start

    # ------------------------------------------------------------ reading

    def shown(self) -> list[Segment]:
        """The segments a renderer shows: role markup and the blank text between two turns
        (their boxes already separate them) are left out."""
        out: list[Segment] = []
        for seg in self.segments:
            if seg.kind == "role":
                continue
            after_turn = bool(out) and out[-1].kind == "role-close"
            if seg.kind == "text" and after_turn and not seg.text.strip():
                continue
            out.append(seg)
        return out

    @property
    def rest(self) -> str:
        """The template not run yet (greyed in the view)."""
        if self.remainder is not None:
            return self.remainder
        return self.template[self.offset:]

    def progress(self) -> str:
        """`12 tokens · 8.3 tok/s` style progress of the model calls so far."""
        tokens = self.tokens if self.status != "running" else max(self.tokens, self.chunks)
        if not tokens:
            return ""
        seconds = (self.ended or time.monotonic()) - self.started
        rate = f" · {tokens / seconds:.1f} tok/s" if seconds > 0 and self.timed else ""
        return f"{tokens} tokens{rate}"


def cut_note(name: str | None, status: Status) -> str:
    """What happened to the value of a gen the run's end cut off."""
    how = "was stopped" if status == "interrupted" else "failed"
    if name is None:
        return f"the running gen {how}; its text was not kept"
    return f"{name!r} was not saved (its gen {how} before the end)"


def gen_title(event: ev.GenEnd) -> str:
    lines = [f"gen {event.name!r}" if event.name else "gen"]
    lines += [mark.note for mark in event.marks]
    if event.logprobs:
        total = sum(lp for _, lp in event.logprobs)
        lines.append(f"logprob {total:.2f} over {len(event.logprobs)} tokens")
        lines += [f"{token!r}: {lp:.2f}" for token, lp in event.logprobs[:20]]
    return "\n".join(lines)


def select_title(event: ev.Selected) -> str:
    lines = [f"select {event.name!r}" if event.name else "select"]
    ranked = sorted(event.logprobs.items(), key=lambda item: -item[1])
    for option, logprob in ranked[:20]:
        p = math.exp(logprob) if logprob > -math.inf else 0.0
        lines.append(f"{option!r}: p={p:.3f}")
    return "\n".join(lines)


def _plain_title(event: ev.TextEvent) -> str:
    return f"generated into {event.name!r}" if event.name else "generated"


# Provenance of output text -> how the view shows it (generated text: gen or select).
_KINDS = {"template": "text", "value": "value", "markup": "role"}


_HANDLERS: dict[type, Any] = {
    ev.TextEvent: ProgramView._text,
    ev.GenStart: ProgramView._gen_start,
    ev.GenChunk: ProgramView._chunk,
    ev.GenEnd: ProgramView._gen_end,
    ev.Selected: ProgramView._selected,
    ev.RoleStart: ProgramView._role_start,
    ev.RoleEnd: ProgramView._role_end,
    ev.TextReset: ProgramView._reset,
    ev.Suspended: ProgramView._suspended,
    ev.Finished: ProgramView._finished,
    ev.Interrupted: ProgramView._interrupted,
    ev.Failed: ProgramView._failed,
}
