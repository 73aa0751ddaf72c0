"""Reading a program: its variables, text, status and views, apart from running it.

`ProgramResult` is the part of `Program` that only reads what a run left (the state, the
events it showed); `Program` adds calling. A partial program's `str()` is template source that
continues where it stopped, with the text so far escaped::

    out = program(name="Bob")
    out["name"], out.text, out.waiting_for, str(out)
"""

from __future__ import annotations

from typing import Any

from guidance_engine.errors import Span
from guidance_engine.runtime import events as ev
from guidance_engine.runtime.presenting import presenter
from guidance_engine.runtime.scopes import ExecState
from guidance_engine.template.instructions import CompiledTemplate
from guidance_engine.template.lexer import escape_text


class ProgramResult:
    """The template, the inputs and (once run) the state and events of one execution."""

    name: str | None = None  # the template's file, for error messages (set by `load`)
    template: str
    interrupted: bool
    _compiled: CompiledTemplate
    _inputs: dict[str, Any]
    _state: ExecState | None
    _log: list[ev.Event] | bool
    _running: bool  # a snapshot taken while streaming
    _offset: int | None  # a snapshot's resume offset in the template
    _history: list[ev.Event]  # this run's events (resumed: all runs') for the view
    _history_len: int | None  # a snapshot sees only the first events

    def __getitem__(self, name: str) -> Any:
        values = self._values()
        if name not in values:
            known = ", ".join(sorted(values)) or "none"
            raise KeyError(f"{name!r} is not a variable of this program (variables: {known})")
        return values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values()

    def get(self, name: str, default: Any = None) -> Any:
        return self._values().get(name, default)

    def variables(self) -> dict[str, Any]:
        """All variables: those passed in and those the template captured."""
        return dict(self._values())

    @property
    def text(self) -> str:
        """The text produced so far (hidden text excluded); empty before the first run."""
        return self._state.text if self._state is not None else ""

    @property
    def log(self) -> list[ev.Event] | bool:
        """With log=True: each executed command and model call, in order; otherwise False."""
        return self._log

    @property
    def waiting_for(self) -> str | None:
        """The variable a partial program awaits, or None."""
        return self._state.waiting_for if self._state is not None else None

    @property
    def done(self) -> bool:
        return self._state is not None and self._state.done

    def __str__(self) -> str:
        """A finished program: its text. A never-run program: its template. A partial program:
        template source that continues where it stopped, the text so far with its `{{` and `}}`
        escaped, so `guidance(str(partial))` never runs model output or values as tags."""
        if self._state is None:
            return self.template
        if self._state.done:
            return self._state.text
        rest = self.remaining_template()
        return escape_text(self._state.text, followed=bool(rest)) + rest

    def remaining_template(self) -> str:
        """The part of the template not executed yet ("" once done; all of it before a run)."""
        if self._state is None:
            return self.template
        if self._state.done:
            return ""
        return self.template[self._resume_offset():]

    def __repr__(self) -> str:
        status = ("never run" if self._state is None else "done" if self._state.done
                  else "interrupted" if self.interrupted
                  else f"waiting for {self._state.waiting_for!r}" if self._state.waiting_for
                  else "running")
        shown = str(self)
        if len(shown) <= 60 and "\n" not in shown:
            return f"<Program {status}: {shown!r}>"
        # Long or multi-line: the readable text view (turns, generated spans, what is left).
        return f"<Program {status}>\n{presenter().text(self)}"

    def _repr_html_(self) -> str:
        return presenter().html(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's text/plain: the readable text view (role turns, generated spans marked)."""
        printer.text(repr(self) if cycle else presenter().text(self))

    def _ipython_display_(self) -> None:
        presenter().show(self)

    def _display_events(self) -> list[ev.Event]:
        end = len(self._history) if self._history_len is None else self._history_len
        return self._history[:end]

    def view_events(self) -> list[ev.Event] | None:
        """What a view of this program shows: its run's events (a resumed program: every run's),
        then how the run ended; None before the first run."""
        if self._state is None:
            return None
        events = self._display_events()
        if self.interrupted:
            events.append(ev.Interrupted(self, getattr(self, "_interrupt_reason", "stopped")))
        elif not self._running:
            events.append(ev.Finished(self))
        return events

    def _view(self) -> Any:
        """The program view of this program (the display layer's `ProgramView`)."""
        return presenter().view(self)

    def _values(self) -> dict[str, Any]:
        return self._state.variables.values if self._state is not None else self._inputs

    def _resume_offset(self) -> int:
        assert self._state is not None
        if self._offset is not None:
            return self._offset
        instructions = self._compiled.instructions
        if self._state.pc >= len(instructions):
            return len(self.template)
        return instructions[self._state.pc].span.start

    def stopped_at(self) -> Span | None:
        """The span of the tag a partial (suspended or interrupted) program resumes at."""
        if self._state is None or self._state.done:
            return None
        instructions = self._compiled.instructions
        return instructions[self._state.pc].span if self._state.pc < len(instructions) else None
