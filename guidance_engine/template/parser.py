"""Parser: turns the lexer's tokens into an AST (`nodes.Template`), checking block structure.

One `parse_<rule>` method per grammar rule; a `TokenStream` gives `current`, `next`, `next_if`
and `expect`. Tag contents follow this grammar::

    command  := expr (keyword | expr)*         # `gen 'x' stop='\\n'`: >1 item makes a Call
    keyword  := NAME '=' expr
    expr     := or_expr
    or_expr  := and_expr ('or' and_expr)*
    and_expr := not_expr ('and' not_expr)*
    not_expr := 'not' not_expr | compare
    compare  := sum (('<'|'>'|'<='|'>='|'=='|'!='|'in'|'not in'|'is'|'is not') sum)?
    sum      := product (('+'|'-') product)*
    product  := unary (('*'|'/'|'%') unary)*
    unary    := '-' unary | postfix
    postfix  := atom ('.' NAME | '.' INT | '[' expr ']' | '(' arglist ')')*
    atom     := NAME | STRING | INT | FLOAT | '(' command ')' | '[' list ']' | '{' dict '}'

Whitespace rules, which keep the space-separated call form unambiguous:

- a postfix `.`, `[` or `(` binds only when it touches the expression before it:
  `{{add(1, 2)}}` calls `add`; `{{add (add 1 2) 3}}` passes a nested call as an argument;
- unary minus in argument position: in a space-separated command, a `-` preceded by whitespace
  and directly followed by its operand starts a new argument, so `{{add x -1}}` is add(x, -1),
  while `{{add x - 1}}` and `{{add x-1}}` are add(x - 1);
- chained comparisons (`a < b < c`) are rejected rather than silently meaning `(a < b) < c`.

Block checks: every `{{#name}}` needs its `{{/name}}`; `{{else}}` is allowed in if, unless
and each blocks (once, last), `{{elif c}}`/`{{else if c}}` in if and unless, `{{or}}` in
select; `{{break}}` only inside the body of an each or geneach loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from guidance_engine.errors import Span, TemplateSyntaxError
from guidance_engine.template import nodes
from guidance_engine.template.lexer import Token, tokenize

KEYWORDS = frozenset({"and", "or", "not", "in", "is"})
CONSTANTS: dict[str, bool | None] = {"True": True, "False": False, "None": None}
SEPARATORS = frozenset({"else", "elif", "or"})
COMPARISONS = frozenset({"<", ">", "<=", ">=", "==", "!="})
MAX_NESTING = 64  # blocks, brackets and operators deeper than this are refused, not recursed
CONDITION_BLOCKS = frozenset({"if", "unless"})
LOOP_BLOCKS = frozenset({"each", "geneach"})
_ALLOWED_SEPARATORS = {
    "else": ("if", "unless", "each"),
    "elif": ("if", "unless"),
    "or": ("select",),
}


def describe(token: Token) -> str:
    """How an error message names a token: `'}}'`, `name 'x'`, `end of template`."""
    if token.kind == "eof":
        return "end of template"
    if token.kind == "name":
        return f"keyword {token.value!r}" if token.value in KEYWORDS else f"name {token.value!r}"
    if token.kind == "string":
        return f"string {token.value!r}"
    if token.kind in ("int", "float"):
        return f"number {token.value}"
    return repr(token.value)


_UNCALLABLE = (nodes.Literal, nodes.ListExpr, nodes.DictExpr)
_ATOM_KINDS = frozenset({"name", "string", "int", "float"})
PREFIX_OPERATORS = frozenset({"==", "!=", "<", ">", "<=", ">="})


class TokenStream:
    """A cursor over tokens that always ends with an `eof` token."""

    def __init__(self, tokens: list[Token], source: str) -> None:
        self.tokens = [*tokens, Token("eof", "", Span.at(source, len(source)))]
        self.index = 0
        self.prev_end = 0  # end offset of the last consumed token, for adjacency checks

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def look(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
            self.prev_end = token.span.end
        return token

    def at(self, kind: str, value: str | None = None) -> bool:
        token = self.current
        return token.kind == kind and (value is None or token.value == value)

    def next_if(self, kind: str, value: str | None = None) -> Token | None:
        return self.next() if self.at(kind, value) else None


@dataclass
class _OpenBlock:
    """A block being parsed: its name, where it opened, and whether we are in a loop body."""

    name: str
    open_span: Span
    in_loop_body: bool
    separator: str | None = None  # the last separator seen ('else', 'elif', 'or')


class Parser:
    """Parses one template; `parse()` returns the `nodes.Template`."""

    def __init__(self, source: str, name: str | None = None) -> None:
        self.source = source
        self.name = name
        self.stream = TokenStream(tokenize(source, name), source)
        self.blocks: list[_OpenBlock] = []
        self.depth = 0  # enclosing blocks, brackets and prefix operators at the cursor
        self.peak = 0  # the deepest level reached inside the innermost open operator chain

    @contextmanager
    def nested(self, opener: Token | None = None) -> Iterator[None]:
        """Counts one level of nesting (opened at `opener`, by default the current token); the
        limit keeps later recursive stages safe."""
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                raise self.too_deep(opener or self.stream.current)
            self.peak = max(self.peak, self.depth)
            yield
        finally:
            self.depth -= 1

    def too_deep(self, token: Token) -> TemplateSyntaxError:
        return self.error(
            f"template nested too deeply at {describe(token)}; expected at most {MAX_NESTING} "
            "levels of blocks, brackets and operators (each operator of a chain such as "
            "'a + b + c' is one level)",
            token.span,
        )

    def begin_chain(self) -> int:
        """Starts a chain of left-associative operators; returns the peak to restore.

        `a + b + c` is `(a + b) + c`: a chain of n operators is n levels deep above its deepest
        operand, as deep as n nested brackets for every later stage that walks the tree.
        """
        saved = self.peak
        self.peak = self.depth
        return saved

    def link(self, token: Token, links: int) -> None:
        """Counts the `links`-th operator of the current chain (found at `token`)."""
        if self.peak + links > MAX_NESTING:
            raise self.too_deep(token)

    def end_chain(self, saved: int, links: int, last: Token | None) -> None:
        if last is not None:
            self.link(last, links)  # the last operand may have gone deeper than the others
        self.peak = max(saved, self.peak + links)

    def error(self, message: str, span: Span) -> TemplateSyntaxError:
        return TemplateSyntaxError(message, span, self.source, name=self.name)

    def unexpected(self, token: Token, expected: str) -> TemplateSyntaxError:
        return self.error(f"unexpected {describe(token)}; expected {expected}", token.span)

    def expect(self, kind: str, value: str | None, expected: str) -> Token:
        token = self.stream.next_if(kind, value)
        if token is None:
            raise self.unexpected(self.stream.current, expected)
        return token

    def expect_close(self) -> Token:
        return self.expect("close", None, "'}}'")

    # ------------------------------------------------------------ statements

    def parse(self) -> nodes.Template:
        body, stop = self.parse_body()
        if stop.kind == "open_close":
            name = self.stream.look(1)
            shown = f"'{{{{/{name.value}}}}}'" if name.kind == "name" else "'{{/'"
            raise self.error(f"unexpected closing tag {shown}; no block is open", stop.span)
        if stop.kind == "open":
            separator = self.stream.look(1).value
            allowed = _either(_ALLOWED_SEPARATORS[separator])
            raise self.error(
                f"unexpected '{{{{{separator}}}}}' outside a block; it is only allowed in "
                f"{_article(allowed)} {allowed} block",
                stop.span.to(self.stream.look(1).span),
            )
        return nodes.Template(body, self.source)

    def parse_body(self) -> tuple[tuple[nodes.Node, ...], Token]:
        """Parses nodes up to a closing tag, a separator tag or the end; returns both."""
        body: list[nodes.Node] = []
        stream = self.stream
        while True:
            token = stream.current
            if token.kind in ("eof", "open_close"):
                return tuple(body), token
            if token.kind == "open" and self.at_separator():
                return tuple(body), token
            if token.kind == "text":
                stream.next()
                _append_text(body, nodes.Text(token.value, token.span))
            elif token.kind == "comment":
                stream.next()
            elif token.kind == "open_block":
                with self.nested():
                    body.append(self.parse_block())
            elif token.kind == "open_partial":
                body.append(self.parse_partial())
            else:
                body.append(self.parse_output())

    def at_separator(self) -> bool:
        head = self.stream.look(1)
        return head.kind == "name" and head.value in SEPARATORS

    def parse_output(self) -> nodes.Output:
        open_token = self.stream.next()
        if self.stream.at("close"):
            raise self.error(
                "empty tag: expected an expression between '{{' and '}}'",
                open_token.span.to(self.stream.current.span),
            )
        expr = self.parse_command(in_parens=False)
        close = self.expect_close()
        output = nodes.Output(expr, open_token.span.to(close.span))
        self.check_break(output)
        return output

    def check_break(self, output: nodes.Output) -> None:
        expr = output.expr
        callee = expr.func if isinstance(expr, nodes.Call) else expr
        if not (isinstance(callee, nodes.Var) and callee.name == "break"):
            return
        if not any(block.in_loop_body for block in self.blocks):
            raise self.error(
                "unexpected '{{break}}' outside a loop; it is only allowed in the body of "
                "an each or geneach block",
                output.span,
            )

    def parse_partial(self) -> nodes.Partial:
        open_token = self.stream.next()
        if self.stream.at("close"):
            raise self.unexpected(self.stream.current, "a program name after '{{>'")
        func = self.parse_postfix()
        args, kwargs = self.parse_arguments(in_parens=False)
        end = _last_span(func, args, kwargs)
        call = nodes.Call(func, args, kwargs, func.span.to(end))
        close = self.expect_close()
        return nodes.Partial(call, open_token.span.to(close.span))

    # ------------------------------------------------------------ blocks

    def parse_block(self) -> nodes.Block:
        """`{{#name args}}body({{separator}}body)*{{/name}}`."""
        open_token = self.stream.next()
        name_token = self.expect("name", None, "a block name after '{{#'")
        args, kwargs = self.parse_arguments(in_parens=False)
        close = self.expect_close()
        open_span = open_token.span.to(close.span)
        func = nodes.Var(name_token.value, name_token.span)
        call = nodes.Call(func, args, kwargs, name_token.span.to(_last_span(func, args, kwargs)))
        if func.name in CONDITION_BLOCKS:
            self.check_condition(f"'{{{{#{name_token.value}}}}}'", args, kwargs, open_span)
        block = _OpenBlock(name_token.value, open_span, name_token.value in LOOP_BLOCKS)
        self.blocks.append(block)
        sections: list[nodes.Section] = []
        separator: str | None = None
        section_args: tuple[nodes.Expr, ...] = ()
        section_span = open_span
        while True:
            body, stop = self.parse_body()
            sections.append(nodes.Section(separator, section_args, body, section_span))
            if stop.kind != "open":
                break
            separator, section_args, section_span = self.parse_separator(block)
        end_span = self.parse_close_tag(block)
        self.blocks.pop()
        return nodes.Block(call, tuple(sections), open_span.to(end_span), open_span)

    def parse_separator(self, block: _OpenBlock) -> tuple[str, tuple[nodes.Expr, ...], Span]:
        """`{{else}}`, `{{elif c}}`, `{{else if c}}` or `{{or}}`, checked against the block."""
        open_token = self.stream.next()
        word = self.stream.next()
        separator = word.value
        if separator == "else" and self.stream.at("name", "if"):
            self.stream.next()
            separator = "elif"
        opened = f"'{block.name}' block (opened at {block.open_span.describe()})"
        if block.name not in _ALLOWED_SEPARATORS[separator]:
            allowed = _either(_ALLOWED_SEPARATORS[separator])
            raise self.error(
                f"unexpected '{{{{{separator}}}}}' in the {opened}; it is only allowed in "
                f"{_article(allowed)} {allowed} block",
                open_token.span.to(word.span),
            )
        if block.separator == "else":
            raise self.error(
                f"unexpected '{{{{{separator}}}}}' after the '{{{{else}}}}' of the {opened}; "
                f"expected '{{{{/{block.name}}}}}'",
                open_token.span.to(word.span),
            )
        args: tuple[nodes.Expr, ...] = ()
        if separator == "elif":
            args, kwargs = self.parse_arguments(in_parens=False)
            self.check_condition("'{{elif}}'", args, kwargs, open_token.span.to(word.span))
        close = self.expect_close()
        block.separator = separator
        block.in_loop_body = False
        return separator, args, open_token.span.to(close.span)

    def check_condition(
        self,
        where: str,
        args: tuple[nodes.Expr, ...],
        kwargs: tuple[nodes.Keyword, ...],
        span: Span,
    ) -> None:
        if kwargs:
            raise self.error(
                f"unexpected keyword argument {kwargs[0].name!r} in {where}; expected "
                "one condition (write '==' to compare)",
                kwargs[0].span,
            )
        if len(args) != 1:
            found = "none" if not args else f"{len(args)} arguments"
            hint = "" if not args else " (combine them with 'and' or 'or')"
            if len(args) > 1 and isinstance(args[1], nodes.UnaryOp) and args[1].op == "-":
                hint = " (a '-' after a space and touching its operand starts a new argument; "
                hint += "write 'a - 1' to subtract)"
            raise self.error(
                f"expected one condition in {where}, found {found}{hint}",
                args[1].span if len(args) > 1 else span,
            )

    def parse_close_tag(self, block: _OpenBlock) -> Span:
        """`{{/name}}` matching the innermost open block; returns its span."""
        token = self.stream.current
        innermost = (
            f"The innermost block that needs to be closed is '{block.name}' "
            f"(opened at {block.open_span.describe()})"
        )
        if token.kind == "eof":
            raise self.error(
                f"unexpected end of template; expected '{{{{/{block.name}}}}}'. {innermost}",
                token.span,
            )
        self.stream.next()
        name = self.expect("name", None, f"a block name after '{{{{/' ('{block.name}')")
        # 0.0.64 programs close `{{#geneach}}` with `{{/each}}`; every other mismatch is an error.
        if name.value != block.name and (name.value, block.name) != ("each", "geneach"):
            raise self.error(
                f"mismatched closing tag: found '{{{{/{name.value}}}}}', expected "
                f"'{{{{/{block.name}}}}}'. {innermost}",
                token.span.to(name.span),
            )
        close = self.expect_close()
        return token.span.to(close.span)

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
        return nodes.Call(head, args, kwargs, head.span.to(_last_span(head, args, kwargs)))

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
        return self.parse_or(in_args)

    def parse_or(self, in_args: bool) -> nodes.Expr:
        saved, links, last = self.begin_chain(), 0, None
        left = self.parse_and(in_args)
        while (token := self.stream.next_if("name", "or")) is not None:
            links, last = links + 1, token
            self.link(token, links)
            right = self.parse_and(in_args)
            left = nodes.BinOp("or", left, right, left.span.to(right.span))
        self.end_chain(saved, links, last)
        return left

    def parse_and(self, in_args: bool) -> nodes.Expr:
        saved, links, last = self.begin_chain(), 0, None
        left = self.parse_not(in_args)
        while (token := self.stream.next_if("name", "and")) is not None:
            links, last = links + 1, token
            self.link(token, links)
            right = self.parse_not(in_args)
            left = nodes.BinOp("and", left, right, left.span.to(right.span))
        self.end_chain(saved, links, last)
        return left

    def parse_not(self, in_args: bool) -> nodes.Expr:
        token = self.stream.next_if("name", "not")
        if token is None:
            return self.parse_compare(in_args)
        with self.nested(token):
            operand = self.parse_not(in_args)
        return nodes.UnaryOp("not", operand, token.span.to(operand.span))

    def parse_compare(self, in_args: bool) -> nodes.Expr:
        saved = self.begin_chain()
        left = self.parse_sum(in_args)
        token = self.stream.current
        op = self.compare_op()
        if op is None:
            self.end_chain(saved, 0, None)
            return left
        self.link(token, 1)
        right = self.parse_sum(in_args)
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

    def parse_sum(self, in_args: bool) -> nodes.Expr:
        saved, links, last = self.begin_chain(), 0, None
        left = self.parse_product(in_args)
        while self.stream.at("op") and self.stream.current.value in ("+", "-"):
            if in_args and self.starts_negative_argument():
                break
            links, last = links + 1, self.stream.next()
            self.link(last, links)
            right = self.parse_product(in_args)
            left = nodes.BinOp(last.value, left, right, left.span.to(right.span))
        self.end_chain(saved, links, last)
        return left

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

    def parse_product(self, in_args: bool) -> nodes.Expr:
        saved, links, last = self.begin_chain(), 0, None
        left = self.parse_unary(in_args)
        while self.stream.at("op") and self.stream.current.value in ("*", "/", "%"):
            links, last = links + 1, self.stream.next()
            self.link(last, links)
            right = self.parse_unary(in_args)
            left = nodes.BinOp(last.value, left, right, left.span.to(right.span))
        self.end_chain(saved, links, last)
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


def _append_text(body: list[nodes.Node], text: nodes.Text) -> None:
    """Appends text, merging it with text right before (a comment between them vanishes)."""
    if body and isinstance(body[-1], nodes.Text):
        previous = body[-1]
        body[-1] = nodes.Text(previous.text + text.text, previous.span.to(text.span))
    else:
        body.append(text)


def _last_span(
    head: nodes.Expr, args: tuple[nodes.Expr, ...], kwargs: tuple[nodes.Keyword, ...]
) -> Span:
    spans = [head.span, *(a.span for a in args), *(k.span for k in kwargs)]
    return max(spans, key=lambda s: s.end)


def _either(words: tuple[str, ...]) -> str:
    """`a`, `a or b`, `a, b or c`."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _article(words: str) -> str:
    return "an" if words[:1] in "aeiou" else "a"


def parse(source: str, name: str | None = None) -> nodes.Template:
    """Parses template text into an AST; raises TemplateSyntaxError with a caret on bad input.

    >>> parse("Hi {{name}}").body[1]
    Output(expr=Var(name='name', span=...), span=...)
    """
    return Parser(source, name).parse()
