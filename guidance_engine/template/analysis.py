"""Static analysis of a compiled template: one walk over its expressions, and the queries on it.

The compiler runs `analyse` once per template and keeps the result in
`CompiledTemplate.analysis`; every check made before a run (names a program reads, `gen` and
`select` arguments, constraints) reads the template through it and these few functions instead
of walking the AST itself::

    compiled = compile_template("{{#if ok}}{{gen 'a' max_tokens=n}}{{/if}}")
    compiled.analysis.names                      # {'ok', 'gen', 'n'} (commands are names too)
    [c.span.column for c in command_calls(compiled.analysis, {"gen"})]    # [11]
    static_value(Literal(5, span), {})           # (True, 5)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from guidance_engine.template import instructions as ins
from guidance_engine.template.nodes import (
    BinOp,
    Call,
    DictExpr,
    Expr,
    GetAttr,
    GetItem,
    ListExpr,
    Literal,
    UnaryOp,
    Var,
)


def child_exprs(expr: Expr) -> tuple[Expr, ...]:
    """The expressions directly inside `expr`, in source order (a call's callee first)."""
    if isinstance(expr, GetAttr):
        return (expr.obj,)
    if isinstance(expr, GetItem):
        return (expr.obj, expr.index)
    if isinstance(expr, Call):
        return (expr.func, *expr.args, *(kw.value for kw in expr.kwargs))
    if isinstance(expr, UnaryOp):
        return (expr.operand,)
    if isinstance(expr, BinOp):
        return (expr.left, expr.right)
    if isinstance(expr, ListExpr):
        return expr.items
    if isinstance(expr, DictExpr):
        return tuple(part for pair in expr.items for part in pair)
    return ()  # Literal, Var


def walk(root: Expr) -> Iterator[Expr]:
    """`root` and every expression inside it, parents before children, in source order.

    Iterative, because expressions may nest as deep as the parser's limit allows.
    """
    stack = [root]
    while stack:
        expr = stack.pop()
        yield expr
        stack.extend(reversed(child_exprs(expr)))


def instruction_exprs(instructions: Iterable[ins.Instruction]) -> Iterator[Expr]:
    """The top-level expression of every instruction that has one (`expr`, `cond` or `call`)."""
    for instruction in instructions:
        if isinstance(instruction, ins.Emit):
            yield instruction.expr
        elif isinstance(instruction, ins.JumpIfFalse | ins.JumpIfTrue):
            yield instruction.cond
        elif isinstance(instruction, ins.LoopStart | ins.EnterBlock | ins.SelectBlock
                        | ins.IncludePartial):
            yield instruction.call


def names_read(instructions: Iterable[ins.Instruction]) -> set[str]:
    """Every name an expression of the template looks up, commands and helpers included."""
    return {expr.name for root in instruction_exprs(instructions)
            for expr in walk(root) if isinstance(expr, Var)}


def analyse(instructions: Iterable[ins.Instruction]) -> ins.Analysis:
    """What the checks before a run need: names read, calls to plain names, select blocks."""
    instructions = tuple(instructions)
    calls = tuple(expr for instruction in instructions if isinstance(instruction, ins.Emit)
                  for expr in walk(instruction.expr)
                  if isinstance(expr, Call) and isinstance(expr.func, Var))
    selects = tuple(i.call for i in instructions if isinstance(i, ins.SelectBlock))
    return ins.Analysis(frozenset(names_read(instructions)), calls, selects)


def command_calls(
    analysis: ins.Analysis, commands: Collection[str], shadowed: Collection[str] = ()
) -> Iterator[Call]:
    """Every call, at any depth of an `{{...}}` tag, to one of the built-in `commands` by name,
    unless a variable of the same name (in `shadowed`) replaces the command."""
    for call in analysis.calls:
        assert isinstance(call.func, Var)
        if call.func.name in commands and call.func.name not in shadowed:
            yield call


def static_value(expr: Expr, known: Mapping[str, Any]) -> tuple[bool, Any]:
    """(True, value) when `expr` has a value before the run: a literal, a negative number, a name
    in `known`, or a list/dict of those; (False, None) otherwise.

    >>> static_value(ListExpr((Literal(1, s), Var('n', s)), s), {'n': 2})  # doctest: +SKIP
    (True, [1, 2])
    """
    if isinstance(expr, Literal):
        return True, expr.value
    if isinstance(expr, UnaryOp) and expr.op == "-":
        ok, value = static_value(expr.operand, known)  # `-1` is a minus applied to 1
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return (True, -value) if ok and number else (False, None)
    if isinstance(expr, Var):
        return (True, known[expr.name]) if expr.name in known else (False, None)
    if isinstance(expr, ListExpr):
        parts = [static_value(item, known) for item in expr.items]
        return all(ok for ok, _ in parts), [value for _, value in parts]
    if isinstance(expr, DictExpr):
        keys = [static_value(k, known) for k, _ in expr.items]
        values = [static_value(v, known) for _, v in expr.items]
        ok = all(ok for ok, _ in keys + values)
        return ok, {k: v for (_, k), (_, v) in zip(keys, values, strict=True)} if ok else None
    return False, None
