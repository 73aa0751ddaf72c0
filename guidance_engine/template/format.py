"""Formatting: expressions back to template syntax, and the instruction listing.

`format_expr` is the inverse of the parser on expressions (minimal parentheses, Python-style
calls), so `parse("{{ " + format_expr(e) + " }}")` gives back `e` up to spans.
`token_listing` shows the lexer's output one token per line.
`listing` renders a compiled template one instruction per line, for golden tests and logs::

    0000 TEXT 'Name: '                        @1:1
    0001 EMIT gen('name') site(prev='Name: ', end)  @1:7
"""

from __future__ import annotations

from guidance_engine.template import instructions as ins
from guidance_engine.template import nodes
from guidance_engine.template.lexer import Token

# Binding strength, loosest first; postfix expressions and atoms bind tightest.
_OR, _AND, _NOT, _COMPARE, _SUM, _PRODUCT, _UNARY, _ATOM = range(1, 9)
_BINARY_PRECEDENCE = {
    "or": _OR,
    "and": _AND,
    **dict.fromkeys(("<", ">", "<=", ">=", "==", "!=", "in", "not in", "is", "is not"), _COMPARE),
    "+": _SUM,
    "-": _SUM,
    "*": _PRODUCT,
    "/": _PRODUCT,
    "%": _PRODUCT,
}
_SITE_CONTEXT = 16  # characters of prev/next text shown in a listing


_PREFIX_CALLEES = frozenset({"==", "!=", "<", ">", "<=", ">="})

def format_expr(expr: nodes.Expr) -> str:
    """Template syntax for an expression.

    >>> from guidance_engine.template.parser import parse
    >>> format_expr(parse("{{add x -1}}").body[0].expr)
    'add(x, -1)'
    """
    return _format(expr)[0]


def _wrap(expr: nodes.Expr, minimum: int) -> str:
    """`expr` formatted, in parentheses when it binds looser than `minimum`."""
    text, precedence = _format(expr)
    return text if precedence >= minimum else f"({text})"


def _format(expr: nodes.Expr) -> tuple[str, int]:
    """The text of `expr` and how tightly it binds."""
    if isinstance(expr, nodes.Literal):
        return _format_literal(expr.value)
    if isinstance(expr, nodes.Var):
        return expr.name, _ATOM
    if isinstance(expr, nodes.GetAttr):
        return f"{_wrap(expr.obj, _ATOM)}.{expr.name}", _ATOM
    if isinstance(expr, nodes.GetItem):
        return f"{_wrap(expr.obj, _ATOM)}[{format_expr(expr.index)}]", _ATOM
    if isinstance(expr, nodes.Call):
        if isinstance(expr.func, nodes.Var) and expr.func.name in _PREFIX_CALLEES:
            # 0.0.64's prefix comparison `(== a b)`: the only call whose callee is an operator
            args = " ".join(_wrap(arg, _ATOM) for arg in expr.args)
            return f"({expr.func.name} {args})", _ATOM
        return f"{_wrap(expr.func, _ATOM)}({format_arguments(expr)})", _ATOM
    if isinstance(expr, nodes.UnaryOp):
        if expr.op == "not":
            return f"not {_wrap(expr.operand, _NOT)}", _NOT
        return f"-{_wrap(expr.operand, _UNARY)}", _UNARY
    if isinstance(expr, nodes.BinOp):
        return _format_binop(expr)
    if isinstance(expr, nodes.ListExpr):
        return f"[{', '.join(format_expr(item) for item in expr.items)}]", _ATOM
    text = ", ".join(f"{format_expr(key)}: {format_expr(value)}" for key, value in expr.items)
    # `{{` inside a tag reads as a new tag, so a dict key that is a dict gets a space first.
    return f"{{{' ' if text.startswith('{') else ''}{text}}}", _ATOM


def _format_literal(value: str | int | float | bool | None) -> tuple[str, int]:
    text = repr(value)
    negative = isinstance(value, int | float) and not isinstance(value, bool) and text[0] == "-"
    return text, _UNARY if negative else _ATOM


def _format_binop(expr: nodes.BinOp) -> tuple[str, int]:
    precedence = _BINARY_PRECEDENCE[expr.op]
    # Left-associative: the left side may bind as loosely as the operator itself, except
    # comparisons, which do not chain.
    left_minimum = precedence + 1 if precedence == _COMPARE else precedence
    left = _wrap(expr.left, left_minimum)
    right = _wrap(expr.right, precedence + 1)
    return f"{left} {expr.op} {right}", precedence


def format_arguments(call: nodes.Call) -> str:
    """`a, b, k=v`: a call's arguments, comma separated."""
    parts = [format_expr(arg) for arg in call.args]
    parts += [f"{k.name}={format_expr(k.value)}" for k in call.kwargs]
    return ", ".join(parts)


# ---------------------------------------------------------------- listing


def format_site(site: ins.CallSite) -> str:
    """`site(prev='...', next='...', end, role='user')`, empty parts left out."""
    parts: list[str] = []
    if site.prev_text:
        parts.append(f"prev={site.prev_text[-_SITE_CONTEXT:]!r}")
    if site.next_text:
        parts.append(f"next={site.next_text[:_SITE_CONTEXT]!r}")
    if site.at_body_end:
        parts.append("end")
    if site.role is not None:
        parts.append(f"role={site.role!r}")
    return f"site({', '.join(parts)})"


def format_instruction(instruction: ins.Instruction) -> str:
    """One instruction without its index and span: `JUMP_IF_FALSE adult -> 4`."""
    match instruction:
        case ins.Text(text=text):
            return f"TEXT {text!r}"
        case ins.Emit(expr=expr, site=site):
            return f"EMIT {format_expr(expr)} {format_site(site)}"
        case ins.Jump(target=target):
            return f"JUMP -> {target}"
        case ins.JumpIfFalse(cond=cond, target=target):
            return f"JUMP_IF_FALSE {format_expr(cond)} -> {target}"
        case ins.JumpIfTrue(cond=cond, target=target):
            return f"JUMP_IF_TRUE {format_expr(cond)} -> {target}"
        case ins.LoopStart() as loop:
            return (
                f"LOOP_START {loop.kind} {format_expr(loop.call)} end={loop.end} "
                f"else={loop.else_start} exit={loop.exit} {format_site(loop.site)}"
            )
        case ins.LoopEnd(start=start, exit=exit_):
            return f"LOOP_END start={start} exit={exit_}"
        case ins.EnterBlock(call=call, end=end):
            return f"ENTER_BLOCK {format_expr(call)} end={end}"
        case ins.ExitBlock(start=start):
            return f"EXIT_BLOCK start={start}"
        case ins.SelectBlock() as select:
            starts = ", ".join(str(s) for s in select.option_starts)
            return (
                f"SELECT_BLOCK {format_expr(select.call)} options=[{starts}] "
                f"end={select.end} {format_site(select.site)}"
            )
        case ins.IncludePartial(call=call):
            return f"INCLUDE_PARTIAL {format_expr(call)}"
    raise AssertionError(f"unknown instruction {instruction!r}")


def listing(compiled: ins.CompiledTemplate) -> str:
    """The whole instruction stream, one numbered line each, spans as `@line:col`.

    >>> from guidance_engine.template.compiler import compile_template
    >>> print(listing(compile_template("Hi {{x}}")))
    0000 TEXT 'Hi '                           @1:1
    0001 EMIT x site(prev='Hi ', end)         @1:4
    """
    lines = []
    for index, instruction in enumerate(compiled.instructions):
        body = f"{index:04d} {format_instruction(instruction)}"
        span = instruction.span
        lines.append(f"{body:<40} @{span.line}:{span.column}")
    return "\n".join(lines)


def token_listing(tokens: list[Token]) -> str:
    """One token per line: kind, value, `@line:col` and the `[start:end]` offsets.

    >>> from guidance_engine.template.lexer import tokenize
    >>> print(token_listing(tokenize("a{{x}}")))
    text         'a' @1:1 [0:1]
    open         '{{' @1:2 [1:3]
    name         'x' @1:4 [3:4]
    close        '}}' @1:5 [4:6]
    """
    return "\n".join(
        f"{t.kind:<12} {t.value!r} @{t.span.line}:{t.span.column} [{t.span.start}:{t.span.end}]"
        for t in tokens
    )
