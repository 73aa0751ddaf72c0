"""Expression evaluation: turns an AST expression into a value against an environment.

The environment (`Env`) resolves names and performs calls, so this module knows nothing about
frames, models or text. Every infix operator the parser accepts works at run time, `and`/`or`
short-circuit as in Python, and failures become `TemplateRuntimeError`s at the expression::

    {{not (a and b) or x[-1] / 2 >= 3}}
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Protocol

from guidance_engine.errors import TemplateRuntimeError
from guidance_engine.runtime.scopes import get_attr, get_item
from guidance_engine.template.format import format_expr
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

_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
    "is": operator.is_,
    "is not": operator.is_not,
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}

_UNARY: dict[str, Callable[[Any], Any]] = {
    "not": operator.not_,
    "-": operator.neg,
    "+": operator.pos,
}


class Env(Protocol):
    """Name resolution and calls, provided by the interpreter."""

    def lookup(self, var: Var) -> Any:
        """The value of a name; raises UndefinedVariableError (or suspends) when unknown."""
        ...

    async def call(self, call: Call, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Invoke a command or a Python callable for the `call` node."""
        ...

    def error(self, message: str, expr: Any) -> TemplateRuntimeError:
        """A runtime error positioned at `expr.span`."""
        ...


async def evaluate(expr: Expr, env: Env) -> Any:
    """The value of `expr`.

    >>> # evaluate(BinOp('+', Literal(1), Literal(2)), env) == 3
    """
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, Var):
        return env.lookup(expr)
    if isinstance(expr, GetAttr):
        return _lookup_step(get_attr, await evaluate(expr.obj, env), expr.name, expr, env)
    if isinstance(expr, GetItem):
        obj = await evaluate(expr.obj, env)
        return _lookup_step(get_item, obj, await evaluate(expr.index, env), expr, env)
    if isinstance(expr, UnaryOp):
        return _apply(_UNARY, expr.op, (await evaluate(expr.operand, env),), expr, env)
    if isinstance(expr, BinOp):
        return await _binop(expr, env)
    if isinstance(expr, ListExpr):
        return [await evaluate(item, env) for item in expr.items]
    if isinstance(expr, DictExpr):
        return {await evaluate(k, env): await evaluate(v, env) for k, v in expr.items}
    if isinstance(expr, Call):
        return await evaluate_call(expr, env)
    raise AssertionError(f"unknown expression node {expr!r}")


async def evaluate_call(call: Call, env: Env) -> Any:
    """Evaluate the callee and arguments left to right, then let the environment call."""
    func = await evaluate(call.func, env)
    args = [await evaluate(arg, env) for arg in call.args]
    kwargs = {kw.name: await evaluate(kw.value, env) for kw in call.kwargs}
    return await env.call(call, func, args, kwargs)


async def _binop(expr: BinOp, env: Env) -> Any:
    left = await evaluate(expr.left, env)
    if expr.op == "and":
        return await evaluate(expr.right, env) if left else left
    if expr.op == "or":
        return left if left else await evaluate(expr.right, env)
    right = await evaluate(expr.right, env)
    return _apply(_BINARY, expr.op, (left, right), expr, env)


def _apply(
    table: dict[str, Callable[..., Any]], op: str, operands: tuple[Any, ...], expr: Any, env: Env
) -> Any:
    func = table.get(op)
    if func is None:
        raise env.error(f"unknown operator {op!r}", expr)
    try:
        return func(*operands)
    except Exception as exc:
        kinds = " and ".join(type(v).__name__ for v in operands)
        raise env.error(
            f"cannot evaluate {format_expr(expr)}: operator {op!r} failed on {kinds}: "
            f"{type(exc).__name__}: {exc}", expr
        ) from exc


def _lookup_step(
    step: Callable[[Any, Any], Any], obj: Any, key: Any, expr: Any, env: Env
) -> Any:
    try:
        return step(obj, key)
    except LookupError as exc:
        raise env.error(f"cannot evaluate {format_expr(expr)}: {exc}", expr) from exc
