"""Errors raised by guidance_engine: one root class, and spans that point back at the template.

Every user-facing error names what was found, what was expected and where. Errors that relate to
a template position carry a `Span` and the template `source`, and render the offending line with
a caret under the column::

    >>> err = TemplateSyntaxError("unexpected '}}'", Span(6, 8, 1, 7), source="Hello }} x")
    >>> print(err)
    unexpected '}}' (line 1, column 7)
        Hello }} x
              ^
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A region of the template text: offsets are 0-based, line and column 1-based."""

    start: int
    end: int
    line: int
    column: int

    @staticmethod
    def at(source: str, start: int, end: int | None = None) -> Span:
        """The span of `source[start:end]`, computing its line and column.

        >>> Span.at("ab\\ncd", 3)
        Span(start=3, end=3, line=2, column=1)
        """
        line = source.count("\n", 0, start) + 1
        column = start - (source.rfind("\n", 0, start) + 1) + 1
        return Span(start, start if end is None else end, line, column)

    def to(self, other: Span) -> Span:
        """The span covering `self` through `other`."""
        return Span(self.start, max(self.end, other.end), self.line, self.column)

    def describe(self) -> str:
        return f"line {self.line}, column {self.column}"


def caret_snippet(source: str, span: Span) -> str:
    """The source line holding `span.start`, indented, with a caret under its column."""
    line_start = source.rfind("\n", 0, span.start) + 1
    line_end = source.find("\n", span.start)
    if line_end == -1:
        line_end = len(source)
    line = source[line_start:line_end].replace("\t", " ")
    return f"    {line}\n    {' ' * (span.column - 1)}^"


class GuidanceError(Exception):
    """Root of every error this package raises on purpose."""


class PositionedError(GuidanceError):
    """An error tied to a place in a template; `str()` shows the line with a caret."""

    def __init__(
        self,
        message: str,
        span: Span | None = None,
        source: str | None = None,
        *,
        name: str | None = None,
    ) -> None:
        self.message = message
        self.span = span
        self.source = source
        self.name = name  # template name, when it has one (a file path, a partial's name)
        super().__init__(self._render())

    def located(self, span: Span, source: str | None, name: str | None) -> PositionedError:
        """The same error placed at `span` of `source` (the interpreter adds positions)."""
        return type(self)(self.message, span, source, name=name)

    def _render(self) -> str:
        if self.span is None:
            return self.message
        where = self.span.describe()
        if self.name:
            where = f"{self.name}, {where}"
        text = f"{self.message} ({where})"
        if self.source is not None:
            text += "\n" + caret_snippet(self.source, self.span)
        return text


class TemplateSyntaxError(PositionedError):
    """The template text is malformed; raised at compile time, before any model call."""


class TemplateRuntimeError(PositionedError):
    """Executing the template failed at a known template position (a command raised, bad args)."""


class UndefinedVariableError(TemplateRuntimeError):
    """A variable was referenced that is neither passed in, captured, nor a built-in."""


class ConstraintError(PositionedError):
    """A pattern, JSON schema or grammar is invalid or unsupported (raised before decoding)."""


class IncompleteOutputError(PositionedError):
    """Generation stopped (max_tokens, end of text) before the constraint was complete."""


class ModelError(GuidanceError):
    """A model backend failed: a model that cannot be loaded, a context overflow, a server error."""


class ModelLoadError(ModelError):
    """A model path, file or cache is missing, not a model, or corrupt."""


class ContextOverflowError(ModelError):
    """The prompt plus requested tokens does not fit in the model's context window."""


class ModelAPIError(PositionedError, ModelError):
    """A model server refused or failed a request: `status` is the HTTP status (None when the
    connection failed or timed out); the message is the server's own."""

    def __init__(
        self,
        message: str,
        span: Span | None = None,
        source: str | None = None,
        *,
        name: str | None = None,
        status: int | None = None,
    ) -> None:
        self.status = status
        super().__init__(message, span, source, name=name)

    def located(self, span: Span, source: str | None, name: str | None) -> PositionedError:
        return ModelAPIError(self.message, span, source, name=name, status=self.status)
