"""AST nodes: the parser's output and the compiler's input, plain frozen dataclasses with spans.

A template is a `Template` holding a tuple of statement nodes (`Text`, `Output`, `Block`,
`Partial`). Expressions (`Literal`, `Var`, `GetAttr`, `GetItem`, `Call`, `UnaryOp`, `BinOp`,
`ListExpr`, `DictExpr`) appear inside tags. Example::

    {{#if x > 1}}big{{else}}small{{/if}}
    Block(call=Call(Var('if'), (BinOp('>', Var('x'), Literal(1)),)),
          sections=(Section(None, (), (Text('big'),)), Section('else', (), (Text('small'),))))

`dump()` renders any node as a stable one-line-per-node text used by golden tests.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeAlias

from guidance_engine.errors import Span

# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant: str, int, float, bool or None."""

    value: str | int | float | bool | None
    span: Span


@dataclass(frozen=True, slots=True)
class Var:
    """A name lookup: `x`, `this`, `@index`, `@first`, `@last`, `@key`, `@prefix`."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class GetAttr:
    """`obj.name`: mapping key first, then attribute."""

    obj: Expr
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class GetItem:
    """`obj[index]`: index is any expression (`arr[0]`, `arr[-1]`, `arr[@index]`)."""

    obj: Expr
    index: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Keyword:
    """One `name=value` argument of a call."""

    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    """A command or function call in any of the three forms.

    `{{add 1 2}}`, `{{add(1, 2)}}` and the nested `{{add (add 1 2) 3}}` all give a Call whose
    `func` is the callee expression (usually a `Var`).
    """

    func: Expr
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class UnaryOp:
    """`not x` or `-x`."""

    op: str
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class BinOp:
    """Infix operator with Python precedence.

    op is one of: `or and == != < > <= >= in is + - * / %` (also `not in`, `is not`).
    """

    op: str
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class DictExpr:
    items: tuple[tuple[Expr, Expr], ...]
    span: Span


Expr: TypeAlias = Literal | Var | GetAttr | GetItem | Call | UnaryOp | BinOp | ListExpr | DictExpr

# ---------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class Text:
    """Literal template text, after escapes (`\\{{`) and whitespace control (`~`) are applied."""

    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Output:
    """`{{expr}}`: evaluate and emit; a command (`{{gen 'x'}}`) is an Output of a Call.

    A bare name that resolves to a callable is called with no arguments (`{{break}}`).
    """

    expr: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Section:
    """One part of a block: the body before the first separator has `separator=None`.

    Separators are `else`, `elif` (with one argument, the condition) and `or` (select options).
    """

    separator: str | None
    args: tuple[Expr, ...]
    body: tuple[Node, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Block:
    """`{{#name args}}...{{/name}}`: `call.func` is `Var(name)`; `sections[0].separator` is None.

    `span` covers the opening tag through the closing tag; `open_span` is the opening tag alone.
    """

    call: Call
    sections: tuple[Section, ...]
    span: Span
    open_span: Span


@dataclass(frozen=True, slots=True)
class Partial:
    """`{{>program arg k=v}}`: `call.func` evaluates to another Program to run inline."""

    call: Call
    span: Span


Node: TypeAlias = Text | Output | Block | Partial


@dataclass(frozen=True, slots=True)
class Template:
    """A whole parsed template: its nodes and the source they came from."""

    body: tuple[Node, ...]
    source: str


# ---------------------------------------------------------------- dump


def dump(node: Any, indent: int = 0) -> str:
    """Render a node tree as indented text, spans shown as `@line:col`, for golden tests.

    >>> print(dump(Text("hi", Span(0, 2, 1, 1))))
    Text 'hi' @1:1
    """
    pad = "  " * indent
    if isinstance(node, Template):
        return "\n".join(dump(child, indent) for child in node.body)
    if isinstance(node, tuple):
        return "\n".join(dump(child, indent) for child in node)
    name = type(node).__name__
    scalars: list[str] = []
    children: list[str] = []
    span: Span | None = None
    for f in fields(node):
        value = getattr(node, f.name)
        if f.name == "span":
            span = value
        elif f.name == "open_span":
            continue
        elif isinstance(value, tuple) and value and not isinstance(value[0], tuple | str):
            children.append(f"{pad}  {f.name}:")
            children.append(dump(value, indent + 2))
        elif isinstance(value, tuple) and value and isinstance(value[0], tuple):
            children.append(f"{pad}  {f.name}:")
            for key, val in value:
                children.append(dump(key, indent + 2))
                children.append(dump(val, indent + 3))
        elif hasattr(value, "__dataclass_fields__"):
            children.append(f"{pad}  {f.name}:")
            children.append(dump(value, indent + 2))
        elif isinstance(value, tuple):
            continue  # empty tuple
        else:
            scalars.append(repr(value))
    where = f" @{span.line}:{span.column}" if span else ""
    head = f"{pad}{name}{(' ' + ' '.join(scalars)) if scalars else ''}{where}"
    return "\n".join([head, *children])
