"""The parser's ground floor: a cursor over the lexer's tokens and the state every rule shares.

`TokenStream` gives `current`, `look`, `next`, `at` and `next_if`; `ParserBase` adds the nesting
guard (blocks, brackets and operator chains deeper than `MAX_NESTING` are a syntax error, never
a deep recursion) and the error helpers that name what was found and what was expected::

    base = ParserBase("{{x}}")
    base.expect("open", None, "'{{'")      # the '{{' token; the cursor moves to name 'x'
    base.unexpected(base.stream.current, "'}}'")
    # TemplateSyntaxError("unexpected name 'x'; expected '}}' (line 1, column 3) ...")
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from guidance_engine.errors import Span, TemplateSyntaxError
from guidance_engine.template.lexer import Token, tokenize

KEYWORDS = frozenset({"and", "or", "not", "in", "is"})
MAX_NESTING = 64  # blocks, brackets and operators deeper than this are refused, not recursed


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
class OpenBlock:
    """A block being parsed: its name, where it opened, and whether we are in a loop body."""

    name: str
    open_span: Span
    in_loop_body: bool
    separator: str | None = None  # the last separator seen ('else', 'elif', 'or')


class ParserBase:
    """The token stream, the open blocks and the nesting depth of one template being parsed."""

    def __init__(self, source: str, name: str | None = None) -> None:
        self.source = source
        self.name = name
        self.stream = TokenStream(tokenize(source, name), source)
        self.blocks: list[OpenBlock] = []
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

