"""Plans: the task lines a planner writes, parsed one line at a time as they stream in.

A plan is numbered tool calls, optional `Thought:` lines, and a final `N. join()`. Arguments are
strings (which may mention `$N` / `${N}`), numbers, lists, or bare `$N` references::

    >>> task = parse_line('3. math("$1 / $2", ["$1", $2])')
    >>> task.index, task.tool, task.args, task.deps
    (3, 'math', ('$1 / $2', ('$1', Ref(index=2))), frozenset({1, 2}))

`PlanStream` turns streamed text into tasks the moment each line is complete (a `join()` is
reported as soon as its text is there, without waiting for a newline).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeAlias

from guidance_engine.errors import GuidanceError

JOIN = "join"
END_OF_PLAN = "<END_OF_PLAN>"
REF_IN_TEXT = re.compile(r"\$\{(\d+)\}|\$(\d+)")
_TASK_HEAD = re.compile(r"\s*(\d+)\s*\.\s*([A-Za-z_]\w*)\s*\(")
_THOUGHT = re.compile(r"\s*Thought\s*:\s*(.*)")
_JOIN_LINE = re.compile(r"\s*(\d+)\s*\.\s*join\s*\(\s*\)\s*(<END_OF_PLAN>)?\s*$")
_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\", "/": "/"}


@dataclass(frozen=True)
class Ref:
    """A bare `$N` argument: replaced by task N's result itself."""

    index: int


Value: TypeAlias = "str | int | float | Ref | tuple[Value, ...]"


@dataclass(frozen=True)
class Task:
    """One plan line `index. tool(args)`; `tool == 'join'` ends the plan."""

    index: int
    tool: str
    args: tuple[Value, ...]
    line: str

    @property
    def deps(self) -> frozenset[int]:
        """Every task number the arguments mention, bare or inside strings."""
        return frozenset(_refs(self.args))

    @property
    def is_join(self) -> bool:
        return self.tool == JOIN


@dataclass(frozen=True)
class Thought:
    text: str


PlanItem: TypeAlias = Task | Thought


class PlanSyntaxError(GuidanceError):
    """A plan line that is neither a task, a thought nor a join (only possible without a
    grammar)."""

    def __init__(self, message: str, line: str, column: int) -> None:
        self.line = line
        self.column = column
        super().__init__(f"{message} (plan line {line!r}, column {column + 1})")


def _refs(value: Any) -> list[int]:
    if isinstance(value, Ref):
        return [value.index]
    if isinstance(value, str):
        return [int(a or b) for a, b in REF_IN_TEXT.findall(value)]
    if isinstance(value, tuple):
        return [index for item in value for index in _refs(item)]
    return []


def parse_line(line: str) -> PlanItem | None:
    """A task, a thought, or None for a blank line; raises PlanSyntaxError otherwise."""
    text = line.replace(END_OF_PLAN, "").rstrip()
    if not text.strip():
        return None
    if match := _THOUGHT.fullmatch(text):
        return Thought(match.group(1).strip())
    if match := _JOIN_LINE.match(text):
        return Task(int(match.group(1)), JOIN, (), text.strip())
    head = _TASK_HEAD.match(text)
    if head is None:
        raise PlanSyntaxError("expected 'N. tool(arguments)', 'Thought: ...' or 'N. join()'",
                              line, 0)
    scanner = _Scanner(text, head.end())
    args = scanner.arguments(")")
    scanner.skip_space()
    if scanner.position != len(text):
        scanner.fail("expected the end of the line after ')'")
    return Task(int(head.group(1)), head.group(2), tuple(args), text.strip())


class _Scanner:
    """Reads the argument list of one task line: strings, numbers, `$N`, nested lists."""

    def __init__(self, text: str, position: int) -> None:
        self.text = text
        self.position = position

    def fail(self, expected: str) -> None:
        found = self.text[self.position:self.position + 10] or "the end of the line"
        raise PlanSyntaxError(f"{expected}; found {found!r}", self.text, self.position)

    def skip_space(self) -> None:
        while self.position < len(self.text) and self.text[self.position] in " \t":
            self.position += 1

    def arguments(self, closer: str) -> list[Value]:
        values: list[Value] = []
        self.skip_space()
        if self.text.startswith(closer, self.position):
            self.position += 1
            return values
        while True:
            values.append(self.value())
            self.skip_space()
            if self.text.startswith(",", self.position):
                self.position += 1
                continue
            if self.text.startswith(closer, self.position):
                self.position += 1
                return values
            self.fail(f"expected ',' or {closer!r}")

    def value(self) -> Value:
        self.skip_space()
        char = self.text[self.position:self.position + 1]
        if char in ('"', "'"):
            return self.string(char)
        if char == "[":
            self.position += 1
            return tuple(self.arguments("]"))
        if char == "$":
            match = REF_IN_TEXT.match(self.text, self.position)
            if match is None:
                self.fail("expected a reference $N")
            assert match is not None
            self.position = match.end()
            return Ref(int(match.group(1) or match.group(2)))
        if match := _NUMBER.match(self.text, self.position):
            self.position = match.end()
            number = match.group(0)
            return float(number) if any(c in number for c in ".eE") else int(number)
        self.fail("expected a string, a number, a list or $N")
        raise AssertionError("unreachable")

    def string(self, quote: str) -> str:
        chars: list[str] = []
        position = self.position + 1
        while position < len(self.text):
            char = self.text[position]
            if char == quote:
                self.position = position + 1
                return "".join(chars)
            if char == "\\" and position + 1 < len(self.text):
                escaped = self.text[position + 1]
                chars.append(_ESCAPES.get(escaped, "\\" + escaped))
                position += 2
                continue
            chars.append(char)
            position += 1
        self.fail(f"expected a closing {quote}")
        raise AssertionError("unreachable")


class PlanStream:
    """Feed streamed plan text; get each task or thought as soon as its line is complete.

        >>> stream = PlanStream()
        >>> [task.line for task in stream.feed('1. search("a")\\n2. sea')]
        ['1. search("a")']
        >>> [task.line for task in stream.feed('rch("b")\\n3. join()')]
        ['2. search("b")', '3. join()']
    """

    def __init__(self) -> None:
        self.text = ""
        self._pending = ""
        self.joined = False

    def feed(self, delta: str) -> list[PlanItem]:
        self.text += delta
        if self.joined:
            return []
        self._pending += delta
        items: list[PlanItem] = []
        *complete, self._pending = self._pending.split("\n")
        for line in complete:
            items.extend(self._parse(line))
            if self.joined:
                return items
        if _JOIN_LINE.match(self._pending.replace(END_OF_PLAN, "")):
            items.extend(self._parse(self._pending))
        return items

    def close(self) -> list[PlanItem]:
        """The last line, once the plan text is complete."""
        if self.joined:
            return []
        items = self._parse(self._pending)
        self._pending = ""
        return items

    def _parse(self, line: str) -> list[PlanItem]:
        item = parse_line(line)
        if item is None:
            return []
        if isinstance(item, Task) and item.is_join:
            self.joined = True
            self._pending = ""
        return [item]
