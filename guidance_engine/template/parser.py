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

from guidance_engine.errors import Span
from guidance_engine.template import nodes
from guidance_engine.template.expressions import ExpressionParser, last_span
from guidance_engine.template.lexer import Token
from guidance_engine.template.token_stream import (
    KEYWORDS,
    MAX_NESTING,
    OpenBlock,
)

__all__ = ["KEYWORDS", "MAX_NESTING", "Parser", "parse"]

SEPARATORS = frozenset({"else", "elif", "or"})
CONDITION_BLOCKS = frozenset({"if", "unless"})
LOOP_BLOCKS = frozenset({"each", "geneach"})
_ALLOWED_SEPARATORS = {
    "else": ("if", "unless", "each"),
    "elif": ("if", "unless"),
    "or": ("select",),
}


class Parser(ExpressionParser):
    """Parses one template; `parse()` returns the `nodes.Template`. Expressions inside tags are
    `ExpressionParser`'s."""

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
        end = last_span(func, args, kwargs)
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
        call = nodes.Call(func, args, kwargs, name_token.span.to(last_span(func, args, kwargs)))
        if func.name in CONDITION_BLOCKS:
            self.check_condition(f"'{{{{#{name_token.value}}}}}'", args, kwargs, open_span)
        block = OpenBlock(name_token.value, open_span, name_token.value in LOOP_BLOCKS)
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

    def parse_separator(self, block: OpenBlock) -> tuple[str, tuple[nodes.Expr, ...], Span]:
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

    def parse_close_tag(self, block: OpenBlock) -> Span:
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


def _append_text(body: list[nodes.Node], text: nodes.Text) -> None:
    """Appends text, merging it with text right before (a comment between them vanishes)."""
    if body and isinstance(body[-1], nodes.Text):
        previous = body[-1]
        body[-1] = nodes.Text(previous.text + text.text, previous.span.to(text.span))
    else:
        body.append(text)



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
