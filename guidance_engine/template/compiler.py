"""Compiler: turns the AST into the flat instruction stream defined in `instructions`.

It owns the layouts documented in `instructions` (jumps for if/elif/else/unless, loop frames for
each/geneach, option starts for a select block, enter/exit pairs for every other block) and the
`CallSite` of each tag: the text right before and after it in the same body, whether it ends its
body, and the innermost enclosing role::

    >>> from guidance_engine.template.format import listing
    >>> print(listing(compile_template("Hi {{gen 'x'}}")))
    0000 TEXT 'Hi '                           @1:1
    0001 EMIT gen('x') site(prev='Hi ', end)  @1:4
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from guidance_engine.errors import Span
from guidance_engine.template import instructions as ins
from guidance_engine.template import nodes
from guidance_engine.template.analysis import analyse
from guidance_engine.template.lexer import Locator
from guidance_engine.template.parser import parse

ROLE_BLOCKS = frozenset({"system", "user", "assistant", "function"})
GENERIC_ROLE = "role"


class _Compiler:
    """Appends instructions to `out`; jump targets are patched once they are known."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.out: list[ins.Instruction] = []
        self.locator: Locator | None = None  # built on the first closing tag

    def emit(self, instruction: ins.Instruction) -> int:
        self.out.append(instruction)
        return len(self.out) - 1

    @property
    def here(self) -> int:
        return len(self.out)

    def close_span(self, block: nodes.Block) -> Span:
        """The span of a block's closing tag (the last `{{` inside the block's span)."""
        start = self.source.rfind("{{", block.span.start, block.span.end)
        if self.locator is None:
            self.locator = Locator(self.source)
        return self.locator.span(start, block.span.end)

    # ------------------------------------------------------------ bodies

    def compile_body(self, body: tuple[nodes.Node, ...], role: str | None) -> None:
        for index, node in enumerate(body):
            if isinstance(node, nodes.Text):
                self.emit(ins.Text(node.text, node.span))
            elif isinstance(node, nodes.Output):
                self.emit(ins.Emit(node.expr, _site(body, index, role), node.span))
            elif isinstance(node, nodes.Partial):
                self.emit(ins.IncludePartial(node.call, node.span))
            else:
                self.compile_block(node, _site(body, index, role), role)

    def compile_block(self, block: nodes.Block, site: ins.CallSite, role: str | None) -> None:
        name = block.call.func.name if isinstance(block.call.func, nodes.Var) else ""
        if name in ("if", "unless"):
            self.compile_if(block, role)
        elif name in ("each", "geneach"):
            self.compile_loop(name, block, site, role)
        elif name == "select":
            self.compile_select(block, site, role)
        else:
            self.compile_enter(block, _role_of(block.call, role))

    # ------------------------------------------------------------ blocks

    def compile_if(self, block: nodes.Block, role: str | None) -> None:
        """`JumpIfFalse(a, →next) A Jump(→end) ... C`; unless starts with `JumpIfTrue`."""
        exits: list[int] = []
        sections = block.sections
        for k, section in enumerate(sections):
            last = k == len(sections) - 1
            if section.separator == "else":
                self.compile_body(section.body, role)
                continue
            test: ins.Instruction
            if k == 0:
                cond = block.call.args[0]
                if _name(block) == "unless":
                    test = ins.JumpIfTrue(cond, -1, block.open_span)
                else:
                    test = ins.JumpIfFalse(cond, -1, block.open_span)
            else:
                test = ins.JumpIfFalse(section.args[0], -1, section.span)
            jump = self.emit(test)
            self.compile_body(section.body, role)
            if not last:
                exits.append(self.emit(ins.Jump(-1, sections[k + 1].span)))
            self.patch(jump, target=self.here)
        for index in exits:
            self.patch(index, target=self.here)

    def compile_loop(
        self, kind: str, block: nodes.Block, site: ins.CallSite, role: str | None
    ) -> None:
        """`LoopStart BODY LoopEnd [ELSE]` with LoopStart/LoopEnd exits after the whole loop."""
        start = self.emit(ins.LoopStart(kind, block.call, -1, None, -1, site, block.open_span))
        self.compile_body(block.sections[0].body, role)
        end = self.emit(ins.LoopEnd(start, -1, self.close_span(block)))
        else_start = None
        if len(block.sections) > 1:
            else_start = self.here
            self.compile_body(block.sections[1].body, role)
        self.patch(start, end=end, else_start=else_start, exit=self.here)
        self.patch(end, exit=self.here)

    def compile_select(self, block: nodes.Block, site: ins.CallSite, role: str | None) -> None:
        """`SelectBlock(option_starts, end)` followed by each option's instructions."""
        head = self.emit(ins.SelectBlock(block.call, (), -1, site, block.open_span))
        starts: list[int] = []
        for section in block.sections:
            starts.append(self.here)
            self.compile_body(section.body, role)
        self.patch(head, option_starts=tuple(starts), end=self.here)

    def compile_enter(self, block: nodes.Block, role: str | None) -> None:
        """`EnterBlock(call, end) BODY ExitBlock(start)` for roles, `block` and the rest."""
        enter = self.emit(ins.EnterBlock(block.call, -1, block.open_span))
        for section in block.sections:  # other blocks have one section (no separators)
            self.compile_body(section.body, role)
        exit_ = self.emit(ins.ExitBlock(enter, self.close_span(block)))
        self.patch(enter, end=exit_)

    def patch(self, index: int, **changes: Any) -> None:
        """Fills in targets of an instruction emitted before they were known."""
        self.out[index] = replace(self.out[index], **changes)


def _name(block: nodes.Block) -> str:
    return block.call.func.name if isinstance(block.call.func, nodes.Var) else ""


def _site(body: tuple[nodes.Node, ...], index: int, role: str | None) -> ins.CallSite:
    """The text around `body[index]` in its own body, and the enclosing role."""
    before = body[index - 1] if index > 0 else None
    after = body[index + 1] if index + 1 < len(body) else None
    # Only blank text between the tag and the body's end still counts as the end (0.0.64 saw a
    # role's closing tag past the text node that follows the tag).
    blank_tail = isinstance(after, nodes.Text) and index + 2 == len(body) and not after.text.strip()
    return ins.CallSite(
        prev_text=before.text if isinstance(before, nodes.Text) else "",
        next_text=after.text if isinstance(after, nodes.Text) else "",
        at_body_end=after is None or blank_tail,
        role=role,
    )


def _role_of(call: nodes.Call, outer: str | None) -> str | None:
    """The role a block sets for its body: its own name, the literal of `role`, or `outer`."""
    if not isinstance(call.func, nodes.Var):
        return outer
    name = call.func.name
    if name in ROLE_BLOCKS:
        return name
    if name != GENERIC_ROLE:
        return outer
    named = (k.value for k in call.kwargs if k.name in ("name", "role_name"))
    candidates = [*call.args[:1], *named]
    for candidate in candidates:
        if isinstance(candidate, nodes.Literal) and isinstance(candidate.value, str):
            return candidate.value
    return GENERIC_ROLE


def compile_ast(template: nodes.Template) -> ins.CompiledTemplate:
    """Compiles a parsed template (the parser has already checked its structure)."""
    compiler = _Compiler(template.source)
    compiler.compile_body(template.body, None)
    instructions = tuple(compiler.out)
    return ins.CompiledTemplate(instructions, template.source, analyse(instructions))


def compile_template(source: str, name: str | None = None) -> ins.CompiledTemplate:
    """Lexes, parses and compiles template text; raises only TemplateSyntaxError.

    >>> compile_template("Hi {{name}}").instructions[0]
    Text(text='Hi ', span=Span(start=0, end=3, line=1, column=1))
    """
    with _gc_paused():
        return compile_ast(parse(source, name))


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector while a template compiles.

    The front end allocates many small objects (tokens, nodes, spans) and no cycles; with the
    collector on, its repeated full passes over them cost a third of a large template's compile.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
