"""Parsing what is inside a tag: commands, their arguments and expressions (one method per rule
of the grammar in `parser.py`), with the whitespace rules that keep the space-separated call form
unambiguous::

    ExpressionParser("{{add x -1}}")  # after '{{': parse_command -> Call(add, (x, -1))
"""

from __future__ import annotations

from guidance_engine.errors import Span
from guidance_engine.template import nodes
from guidance_engine.template.lexer import Token
from guidance_engine.template.token_stream import KEYWORDS, ParserBase, describe

CONSTANTS: dict[str, bool | None] = {"True": True, "False": False, "None": None}
COMPARISONS = frozenset({"<", ">", "<=", ">=", "==", "!="})
_UNCALLABLE = (nodes.Literal, nodes.ListExpr, nodes.DictExpr)
_ATOM_KINDS = frozenset({"name", "string", "int", "float"})
PREFIX_OPERATORS = frozenset({"==", "!=", "<", ">", "<=", ">="})
# The left-associative operator levels: (token kind, operators, the level below; None: the
# operand is `parse_not` under "and", `parse_unary` under "product").
_CHAINS: dict[str, tuple[str, frozenset[str], str | None]] = {
    "or": ("name", frozenset({"or"}), "and"),
    "and": ("name", frozenset({"and"}), None),
    "sum": ("op", frozenset({"+", "-"}), "product"),
    "product": ("op", frozenset({"*", "/", "%"}), None),
}


class ExpressionParser(ParserBase):
    """Commands, arguments and expressions; `Parser` adds the template's statements and blocks."""

    # ------------------------------------------------------------ commands and arguments

    def parse_command(self, in_parens: bool) -> nodes.Expr:
        """`head arg k=v ...`: the head alone, or a Call when any argument follows."""
        head = self.parse_expr(in_args=True)
        stream = self.stream
        at_end = stream.at("close") or stream.at("eof") or (in_parens and stream.at("op", ")"))
        if not at_end and isinstance(head, _UNCALLABLE):
            closing = "')'" if in_parens else "'}}'"
            raise self.unexpected(stream.current, f"{closing} after a literal value (only a "
                                  "name or path can take arguments)")
        args, kwargs = self.parse_arguments(in_parens)
        if not args and not kwargs:
            return head
        return nodes.Call(head, args, kwargs, head.span.to(last_span(head, args, kwargs)))

    def parse_arguments(
        self, in_parens: bool
    ) -> tuple[tuple[nodes.Expr, ...], tuple[nodes.Keyword, ...]]:
        """Space-separated positional and keyword arguments up to `}}` (or `)` in parens)."""
        args: list[nodes.Expr] = []
        kwargs: list[nodes.Keyword] = []
        stream = self.stream
        while not (stream.at("close") or stream.at("eof") or (in_parens and stream.at("op", ")"))):
            if self.at_keyword():
                self.add_keyword(kwargs, in_args=True)
            else:
                args.append(self.parse_expr(in_args=True))
        return tuple(args), tuple(kwargs)

    def at_keyword(self) -> bool:
        token, after = self.stream.current, self.stream.look(1)
        return token.kind == "name" and after.kind == "op" and after.value == "="

    def add_keyword(self, kwargs: list[nodes.Keyword], in_args: bool) -> None:
        name = self.stream.next()
        self.stream.next()  # '='
        if name.value.startswith("@") or name.value in KEYWORDS:
            raise self.error(f"bad keyword argument name {name.value!r}", name.span)
        if any(k.name == name.value for k in kwargs):
            raise self.error(f"duplicate keyword argument {name.value!r}", name.span)
        value = self.parse_expr(in_args=in_args)
        kwargs.append(nodes.Keyword(name.value, value, name.span.to(value.span)))

    # ------------------------------------------------------------ expressions

    def parse_expr(self, in_args: bool = False) -> nodes.Expr:
        token, after = self.stream.current, self.stream.look(1)
        if (
            token.kind in _ATOM_KINDS
            and not (token.kind == "name" and token.value in KEYWORDS)
            and after.kind != "op"
            and not (after.kind == "name" and after.value in KEYWORDS)
        ):
            return self.parse_atom()  # the common case, a lone name or literal: no operators
        return self.parse_chain("or", in_args)

    def parse_not(self, in_args: bool) -> nodes.Expr:
        token = self.stream.next_if("name", "not")
        if token is None:
            return self.parse_compare(in_args)
        with self.nested(token):
            operand = self.parse_not(in_args)
        return nodes.UnaryOp("not", operand, token.span.to(operand.span))

    def parse_compare(self, in_args: bool) -> nodes.Expr:
        saved = self.begin_chain()
        left = self.parse_chain("sum", in_args)
        token = self.stream.current
        op = self.compare_op()
        if op is None:
            self.end_chain(saved, 0, None)
            return left
        self.link(token, 1)
        right = self.parse_chain("sum", in_args)
        self.end_chain(saved, 1, token)
        expr = nodes.BinOp(op, left, right, left.span.to(right.span))
        if self.compare_op(consume=False) is not None:
            raise self.error(
                f"unexpected {describe(self.stream.current)} after a comparison; chained "
                "comparisons are not supported (use 'and')",
                self.stream.current.span,
            )
        return expr

    def compare_op(self, consume: bool = True) -> str | None:
        """The comparison operator at the cursor (`not in`, `is not` included), if any."""
        token, after = self.stream.current, self.stream.look(1)
        op: str | None = None
        width = 1
        if token.kind == "op" and token.value in COMPARISONS:
            op = token.value
        elif token.kind == "name" and token.value == "in":
            op = "in"
        elif token.kind == "name" and token.value == "not" and after.kind == "name":
            op, width = ("not in", 2) if after.value == "in" else (None, 1)
        elif token.kind == "name" and token.value == "is":
            is_not = after.kind == "name" and after.value == "not"
            op, width = ("is not", 2) if is_not else ("is", 1)
        if op is not None and consume:
            for _ in range(width):
                self.stream.next()
        return op

    def starts_negative_argument(self) -> bool:
        """A `-` after whitespace and touching its operand starts a new argument (`x -1`)."""
        token = self.stream.current
        after = self.stream.look(1)
        return (
            token.value == "-"
            and token.span.start > self.stream.prev_end
            and after.span.start == token.span.end
            and after.kind not in ("close", "eof")
        )

    def parse_chain(self, level: str, in_args: bool) -> nodes.Expr:
        """`operand (operator operand)*` at `level` of `_CHAINS`, left-associative (`a - b - c` is
        `(a - b) - c`), each operator one nesting level. The operand is the next level down,
        called directly, so a bracket costs as few Python frames as one method per rule did."""
        kind, operators, below = _CHAINS[level]
        saved, links = self.begin_chain(), 0
        left: nodes.Expr | None = None
        operator: Token | None = None
        while True:
            right = (self.parse_chain(below, in_args) if below is not None
                     else self.parse_not(in_args) if level == "and"
                     else self.parse_unary(in_args))
            if left is None or operator is None:
                left = right
            else:
                left = nodes.BinOp(operator.value, left, right, left.span.to(right.span))
            if not (self.stream.at(kind) and self.stream.current.value in operators):
                break
            if level == "sum" and in_args and self.starts_negative_argument():
                break  # `x -1` in a command: the minus starts the next argument
            links, operator = links + 1, self.stream.next()
            self.link(operator, links)
        self.end_chain(saved, links, operator)
        return left

    def parse_unary(self, in_args: bool) -> nodes.Expr:
        token = self.stream.next_if("op", "-")
        if token is None:
            return self.parse_postfix()
        with self.nested(token):
            operand = self.parse_unary(in_args)
        return nodes.UnaryOp("-", operand, token.span.to(operand.span))

    def parse_postfix(self) -> nodes.Expr:
        """An atom followed by touching `.name`, `[index]` or `(args)`."""
        saved, links, last = self.begin_chain(), 0, None
        expr = self.parse_atom()
        stream = self.stream
        while stream.at("op") and stream.current.span.start == stream.prev_end:
            token = stream.current
            if token.value not in (".", "[", "("):
                break
            links, last = links + 1, token
            self.link(token, links)
            if token.value == ".":
                expr = self.parse_attribute(expr)
                continue
            stream.next()
            with self.nested(token):
                if token.value == "[":
                    index = self.parse_expr()
                    close = self.expect("op", "]", "']' to close the index")
                    expr = nodes.GetItem(expr, index, expr.span.to(close.span))
                else:
                    args, kwargs, close = self.parse_call_arguments()
                    expr = nodes.Call(expr, args, kwargs, expr.span.to(close.span))
        self.end_chain(saved, links, last)
        return expr

    def parse_attribute(self, obj: nodes.Expr) -> nodes.Expr:
        dot = self.stream.next()  # '.'
        token = self.stream.next()
        if token.kind == "int" and isinstance(obj, nodes.Literal) and _is_number(obj.value):
            # `1.2.3`: a second decimal point, not an index into a number
            raise self.unexpected(dot, f"'}}}}' or an operator after the number {obj.value!r}")
        if token.kind == "int":
            index = nodes.Literal(int(token.value), token.span)
            return nodes.GetItem(obj, index, obj.span.to(token.span))
        if token.kind != "name" or token.value.startswith("@"):
            raise self.unexpected(token, "an attribute name after '.'")
        return nodes.GetAttr(obj, token.value, obj.span.to(token.span))

    def parse_call_arguments(
        self,
    ) -> tuple[tuple[nodes.Expr, ...], tuple[nodes.Keyword, ...], Token]:
        """`a, b, k=v)` after a touching `(`: Python-style, comma separated."""
        args: list[nodes.Expr] = []
        kwargs: list[nodes.Keyword] = []
        while not self.stream.at("op", ")"):
            if self.at_keyword():
                self.add_keyword(kwargs, in_args=False)
            else:
                args.append(self.parse_expr())
            if not self.stream.next_if("op", ","):
                break
        close = self.expect("op", ")", "',' or ')' in the argument list")
        return tuple(args), tuple(kwargs), close

    def parse_atom(self) -> nodes.Expr:
        token = self.stream.current
        if token.kind == "name" and token.value not in KEYWORDS:
            self.stream.next()
            if token.value in CONSTANTS:
                return nodes.Literal(CONSTANTS[token.value], token.span)
            return nodes.Var(token.value, token.span)
        if token.kind == "string":
            self.stream.next()
            return nodes.Literal(token.value, token.span)
        if token.kind in ("int", "float"):
            self.stream.next()
            value = int(token.value) if token.kind == "int" else float(token.value)
            return nodes.Literal(value, token.span)
        if token.kind == "op" and token.value == "(":
            self.stream.next()
            if self.stream.at("op", ")"):
                raise self.unexpected(self.stream.current, "an expression inside '( )'")
            with self.nested(token):
                inner = self.parse_prefix_call() or self.parse_command(in_parens=True)
            self.expect("op", ")", "')' to close '('")
            return inner
        if token.kind == "op" and token.value in ("[", "{"):
            with self.nested():
                return self.parse_list() if token.value == "[" else self.parse_dict()
        raise self.unexpected(token, "an expression")

    def parse_prefix_call(self) -> nodes.Call | None:
        """0.0.64's prefix comparison form inside parentheses: `(== this.role 'user')`."""
        token = self.stream.current
        if not (token.kind == "op" and token.value in PREFIX_OPERATORS):
            return None
        if self.stream.look(1).kind == "op" and self.stream.look(1).value == ")":
            return None  # `(==)` alone: let the expression parser report it
        self.stream.next()
        args, kwargs = self.parse_arguments(in_parens=True)
        if len(args) != 2 or kwargs:
            raise self.error(
                f"the prefix form '({token.value} a b)' takes exactly two arguments; "
                f"found {len(args)} positional and {len(kwargs)} keyword",
                token.span,
            )
        func = nodes.Var(token.value, token.span)
        return nodes.Call(func, args, kwargs, token.span.to(args[-1].span))

    def parse_list(self) -> nodes.ListExpr:
        open_token = self.stream.next()
        items: list[nodes.Expr] = []
        while not self.stream.at("op", "]"):
            items.append(self.parse_expr())
            if not self.stream.next_if("op", ","):
                break
        close = self.expect("op", "]", "',' or ']' in the list")
        return nodes.ListExpr(tuple(items), open_token.span.to(close.span))

    def parse_dict(self) -> nodes.DictExpr:
        open_token = self.stream.next()
        items: list[tuple[nodes.Expr, nodes.Expr]] = []
        while not self.stream.at("op", "}"):
            key = self.parse_expr()
            self.expect("op", ":", "':' after the dict key")
            items.append((key, self.parse_expr()))
            if not self.stream.next_if("op", ","):
                break
        close = self.expect("op", "}", "',' or '}' in the dict")
        return nodes.DictExpr(tuple(items), open_token.span.to(close.span))



def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)



def last_span(
    head: nodes.Expr, args: tuple[nodes.Expr, ...], kwargs: tuple[nodes.Keyword, ...]
) -> Span:
    spans = [head.span, *(a.span for a in args), *(k.span for k in kwargs)]
    return max(spans, key=lambda s: s.end)


