"""The instruction set: the compiler's output and the interpreter's input.

A compiled template is a flat tuple of instructions; control flow is explicit jumps to indices
in that tuple, so the interpreter's whole state is data (a program counter and a frame stack) and
a program suspended by `{{await}}` inside a loop resumes exactly where it stopped.

    Name: {{gen 'name'}}{{#if adult}}!{{/if}}

    0000 TEXT 'Name: '                 @1:1
    0001 EMIT gen('name')              @1:7
    0002 JUMP_IF_FALSE adult -> 4      @1:21
    0003 TEXT '!'                      @1:34
    0004 ...

Layouts the compiler produces (indices are absolute):

- `{{#if a}}A{{elif b}}B{{else}}C{{/if}}`:
  `JumpIfFalse(a, →elif) A Jump(→end) JumpIfFalse(b, →else) B Jump(→end) C` and end.
  `{{#unless a}}` is `JumpIfTrue(a, →else)`.
- `{{#each xs}}BODY{{else}}EMPTY{{/each}}` and `{{#geneach 'xs'}}BODY{{/geneach}}`:
  `LoopStart(end=k, else_start=k+1 or None, exit=m) BODY LoopEnd(start=i, exit=m) EMPTY` and m.
  LoopStart evaluates the call's arguments and pushes a loop frame; with nothing to iterate it
  jumps to `else_start` (or `exit`). LoopEnd jumps back to `start + 1` for another iteration or
  pops the frame and jumps to `exit`. `{{break}}` leaves the innermost loop through its `exit`.
- `{{#block}}`, role blocks (`system`, `user`, `assistant`, `function`, `role`) and any other
  block command: `EnterBlock(call, end=k) BODY ExitBlock(start=i)`. The interpreter pushes a block
  frame on enter (a role block emits its start markup) and on exit captures the body text (`name=`),
  drops it from the context (`hidden=True`), emits role end markup.
- `{{#select 'x'}}A{{or}}B{{/select}}`: `SelectBlock(call, option_starts=(i+1, j), end=k, site)`,
  each option's instructions run from its start to the next start (the last one to `end`) and
  render text only (no model calls); then the interpreter selects. Execution continues at `end`.
- `{{>prog a k=v}}`: `IncludePartial(call)`.
- Everything else in `{{...}}`: `Emit(expr, site)`. A `Call` to a built-in command (`gen`,
  `select options=`, `set`, `await`, `break`, `parse`, helpers) is resolved by the interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from guidance_engine.errors import Span
from guidance_engine.template.nodes import Call, Expr


@dataclass(frozen=True, slots=True)
class CallSite:
    """The fixed text around a tag, which commands use to infer defaults.

    `gen` without `stop` stops at: the quote character when the tag sits between a matching pair
    of quotes (`prev_text` ends with it and `next_text` starts with it); the role's end markup when
    the tag ends the body of a role block (`at_body_end` and `role`); an XML closing tag that
    starts `next_text`; otherwise none. `geneach` ends its list at the whole `next_text`, and
    `select` tells its options apart by it.
    """

    prev_text: str = ""  # text of the Text node right before the tag in the same body
    next_text: str = ""  # text of the Text node right after the tag in the same body
    at_body_end: bool = False  # the tag is the last node of its enclosing block body
    role: str | None = None  # innermost enclosing role block: 'system', 'user', ... or None


@dataclass(frozen=True, slots=True)
class Text:
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Emit:
    expr: Expr
    site: CallSite
    span: Span


@dataclass(frozen=True, slots=True)
class Jump:
    target: int
    span: Span


@dataclass(frozen=True, slots=True)
class JumpIfFalse:
    cond: Expr
    target: int
    span: Span


@dataclass(frozen=True, slots=True)
class JumpIfTrue:
    cond: Expr
    target: int
    span: Span


@dataclass(frozen=True, slots=True)
class LoopStart:
    """`kind` is 'each' or 'geneach'; `call` carries the block's arguments."""

    kind: str
    call: Call
    end: int  # index of the matching LoopEnd
    else_start: int | None  # first instruction of the `{{else}}` body, if any
    exit: int  # first instruction after the whole loop
    site: CallSite  # geneach infers `stop` from the text after the block
    span: Span


@dataclass(frozen=True, slots=True)
class LoopEnd:
    start: int  # index of the matching LoopStart
    exit: int
    span: Span


@dataclass(frozen=True, slots=True)
class EnterBlock:
    """`call.func` names the block command (`block`, `system`, `role`, a user block function)."""

    call: Call
    end: int  # index of the matching ExitBlock
    span: Span


@dataclass(frozen=True, slots=True)
class ExitBlock:
    start: int  # index of the matching EnterBlock
    span: Span


@dataclass(frozen=True, slots=True)
class SelectBlock:
    call: Call
    option_starts: tuple[int, ...]
    end: int  # first instruction after the select block
    site: CallSite
    span: Span


@dataclass(frozen=True, slots=True)
class IncludePartial:
    call: Call
    span: Span


Instruction: TypeAlias = (
    Text
    | Emit
    | Jump
    | JumpIfFalse
    | JumpIfTrue
    | LoopStart
    | LoopEnd
    | EnterBlock
    | ExitBlock
    | SelectBlock
    | IncludePartial
)


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the compiler's static analysis (`analysis.analyse`) found, for the checks made before
    a run: every name read, and every call to a plain name (`gen`, `select`, ...) at any depth of
    an output tag, plus the call of each `{{#select}}` block."""

    names: frozenset[str]
    calls: tuple[Call, ...]
    select_blocks: tuple[Call, ...]


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """What the compiler returns: the instruction stream, the source it spans into and what
    static analysis found in it."""

    instructions: tuple[Instruction, ...]
    source: str
    analysis: Analysis
