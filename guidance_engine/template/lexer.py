"""Lexer: turns template text into a flat list of tokens, each with its span.

Outside tags the lexer produces `text` and `comment` tokens; a tag produces an opening token,
the tokens of its contents and a `close` token::

    >>> [(t.kind, t.value) for t in tokenize("Hi {{~#if x > 1}}")]
    [('text', 'Hi'), ('open_block', '{{~#'), ('name', 'if'), ('name', 'x'), ('op', '>'),
     ('int', '1'), ('close', '}}')]

Token kinds:

- `text`: literal text, with `\\{{` unescaped to `{{` (and `\\}}` to `}}`) and whitespace control
  applied: `{{~` strips all trailing whitespace of the text before the tag, `~}}` all leading
  whitespace of the text after it. The span covers what remains of the text in the source.
  Text that becomes empty is dropped. Every other character is kept (no "standalone line" rule).
- `comment`: `{{! ... }}` or `{{!-- ... --}}` (the long form may contain `}}`); value is the body.
- `open` (`{{`, or `{{{` for a triple-stash), `open_block` (`{{#`), `open_close` (`{{/`),
  `open_partial` (`{{>`); the value is the raw marker, `~` included.
- `close`: `}}` (or `}}}`), value raw, `~` included.
- inside tags: `name` (identifiers, keywords, `True`/`False`/`None`, and `@index`-style names
  with their `@`), `string` (value decoded), `int` and `float` (value is the source text), and
  `op` (one of `OPERATORS`).

Inside a tag a `}` closes a dict while a `{` is open, so `{{set {'a': 1}}}` lexes as expected.
A `}}` in plain text is an error (most likely a typo); write `\\}}` for a literal `}}`.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from guidance_engine.errors import Span, TemplateSyntaxError

OPERATORS = (
    "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "=",
    "(", ")", "[", "]", "{", "}", ",", ":", ".",
)  # fmt: skip
_TWO_CHAR_OPS = frozenset(op for op in OPERATORS if len(op) == 2)
_ONE_CHAR_OPS = frozenset(op for op in OPERATORS if len(op) == 1)
_OPENERS = {"#": "open_block", "/": "open_close", ">": "open_partial"}
_NAME_RE = re.compile(r"@?[^\W\d]\w*")  # Python identifiers, Unicode letters included
_NUMBER_RE = re.compile(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?[A-Za-z0-9_]*")
_GOOD_NUMBER_RE = re.compile(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_SIMPLE_ESCAPES = {
    "n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"',
    "0": "\0", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "\n": "",
}  # fmt: skip
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_MAX_INT_DIGITS = 4000  # below Python's int-from-string limit (4300 digits)
_LONG_COMMENT_END = re.compile(r"--~?}}")
_SPECIAL_RE = re.compile(r"[{}\\]")
_SPACE_RE = re.compile(r"\s*")
# The common tokens inside a tag, matched in one step; everything else (escaped strings,
# numbers, dict braces, bad characters) takes the slower path in `lex_inner_token`.
_FAST_TOKEN_RE = re.compile(
    r"""(?P<close>~?\}\})|(?P<open>\{\{)|(?P<string>'[^'\\]*'|"[^"\\]*")"""
    r"""|(?P<name>@?[^\W\d]\w*)|(?P<op>==|!=|<=|>=|[<>+*/%=()\[\]:,.-])"""
)
_SHORT_COMMENT_END = re.compile(r"~?}}")


@dataclass(frozen=True, slots=True)
class Token:
    """One lexeme: `kind` (see the module docstring), its `value`, and where it is."""

    kind: str
    value: str
    span: Span


class Locator:
    """Maps offsets to spans with a precomputed table of line starts (O(log n) per span)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", source)]

    def span(self, start: int, end: int) -> Span:
        line = bisect.bisect_right(self.line_starts, start)
        return Span(start, end, line, start - self.line_starts[line - 1] + 1)


class _Lexer:
    """Scans the source once; `pos` always points at the next unread character."""

    def __init__(self, source: str, name: str | None) -> None:
        self.source = source
        self.name = name
        self.loc = Locator(source)
        self.pos = 0
        self.tokens: list[Token] = []
        self.strip_next = False  # the previous tag ended with `~}}`

    def error(self, message: str, start: int, end: int | None = None) -> TemplateSyntaxError:
        span = self.loc.span(start, start if end is None else end)
        return TemplateSyntaxError(message, span, self.source, name=self.name)

    def add(self, kind: str, value: str, start: int, end: int) -> None:
        self.tokens.append(Token(kind, value, self.loc.span(start, end)))

    def run(self) -> list[Token]:
        while self.pos < len(self.source):
            self.lex_text()
            if self.pos < len(self.source):
                self.lex_tag()
        return self.tokens

    # ------------------------------------------------------------ text

    def lex_text(self) -> None:
        """Reads text up to the next unescaped `{{`, unescaping `\\{{` and `\\}}`."""
        src = self.source
        start = self.pos
        parts: list[str] = []
        i = start
        escaped_open = False  # after `\{{`, the next `}}` closes the escaped tag: plain text
        while i < len(src):
            if src.startswith("\\{{", i) or src.startswith("\\}}", i):
                escaped_open = src[i + 1] == "{"
                parts.append(src[i + 1 : i + 3])
                i += 3
            elif escaped_open and src.startswith("}}", i):
                escaped_open = False
                parts.append("}}")
                i += 2
            elif src.startswith("\\\\{{", i):
                parts.append("\\")  # an escaped backslash before a real tag
                i += 2
                break
            elif src.startswith("{{", i):
                break
            elif src.startswith("}}", i):
                raise self.error(
                    "unexpected '}}' in text; expected text or a tag opened with '{{' "
                    "(write '\\}}' for a literal '}}')",
                    i,
                    i + 2,
                )
            else:
                j = _next_special(src, i)
                parts.append(src[i:j])
                i = j
        self.pos = i
        self.add_text(start, i, "".join(parts))

    def add_text(self, start: int, end: int, text: str) -> None:
        """Adds a text token, applying a pending `~}}` and a following `{{~`."""
        if self.strip_next:
            stripped = text.lstrip()
            start += len(text) - len(stripped)  # whitespace is never escaped: raw == value
            text = stripped
            self.strip_next = False
        if self.source.startswith("{{~", end):
            stripped = text.rstrip()
            end -= len(text) - len(stripped)  # whitespace is never escaped: raw == value here
            text = stripped
        if text:
            self.add("text", text, start, end)

    # ------------------------------------------------------------ tags

    def lex_tag(self) -> None:
        """Reads one tag starting at `{{`: a comment, or an opener, contents and a close."""
        src = self.source
        start = self.pos
        i = start + 2
        if src.startswith("~", i):
            i += 1
        if src.startswith("!", i):
            self.lex_comment(start, i + 1)
            return
        triple = src.startswith("{", i) and i == start + 2
        if triple:
            kind = "open"
            i += 1
        else:
            kind = _OPENERS.get(src[i : i + 1], "open")
            if kind != "open":
                i += 1
        self.add(kind, src[start:i], start, i)
        self.pos = i
        self.lex_tag_body(start, "}}}" if triple else "}}")

    def lex_comment(self, start: int, body_start: int) -> None:
        """Reads `{{! ... }}` or `{{!-- ... --}}` (either may end with `~}}`)."""
        src = self.source
        long_form = src.startswith("--", body_start)
        if long_form:
            m = _LONG_COMMENT_END.search(src, body_start + 2)
            body_start += 2
        else:
            m = _SHORT_COMMENT_END.search(src, body_start)
        if m is None:
            closer = "--}}" if long_form else "}}"
            raise self.error(
                f"unclosed comment: found end of template, expected '{closer}'", start, start + 2
            )
        self.add("comment", src[body_start : m.start()], start, m.end())
        self.strip_next = "~" in m.group()
        self.pos = m.end()

    def lex_tag_body(self, open_start: int, closer: str) -> None:
        """Reads the tokens inside a tag until its `closer` at bracket depth 0."""
        src = self.source
        depth = 0  # open `{` of dict literals
        while True:
            i = self.pos = _SPACE_RE.match(src, self.pos).end()  # type: ignore[union-attr]
            m = _FAST_TOKEN_RE.match(src, i)
            kind = m.lastgroup if m is not None else None
            if kind in ("string", "name", "op"):
                assert m is not None
                value = m.group()
                end = m.end()
                self.tokens.append(Token(kind, value[1:-1] if kind == "string" else value,
                                         self.loc.span(i, end)))
                self.pos = end
                continue
            if i >= len(src):
                raise self.error(
                    f"unterminated tag: found end of template, expected '{closer}' to close "
                    "the tag opened here",
                    open_start,
                    open_start + 2,
                )
            if depth == 0 and self.at_close(i, closer):
                return
            if depth == 0 and src.startswith("{{", i):
                raise self.error(
                    f"unterminated tag: found '{{{{' at {self.loc.span(i, i).describe()}, "
                    f"expected '{closer}' to close the tag opened here",
                    open_start,
                    open_start + 2,
                )
            depth = self.lex_inner_token(i, depth, closer)

    def at_close(self, i: int, closer: str) -> bool:
        """Consumes the closing `}}` (or `~}}`) at `i` if there is one."""
        src = self.source
        tilde = src.startswith("~", i)
        j = i + 1 if tilde else i
        if not src.startswith(closer, j):
            return False
        self.add("close", src[i : j + len(closer)], i, j + len(closer))
        self.pos = j + len(closer)
        self.strip_next = tilde
        return True

    def lex_inner_token(self, i: int, depth: int, closer: str) -> int:
        """Lexes one token inside a tag at `i`; returns the new dict-bracket depth."""
        src = self.source
        ch = src[i]
        if ch in "'\"":
            self.lex_string(i)
        elif ch in "0123456789":
            self.lex_number(i)
        elif m := _NAME_RE.match(src, i):
            self.add("name", m.group(), i, m.end())
            self.pos = m.end()
        elif src[i : i + 2] in _TWO_CHAR_OPS:
            self.add("op", src[i : i + 2], i, i + 2)
            self.pos = i + 2
        elif ch in _ONE_CHAR_OPS:
            self.add("op", ch, i, i + 1)
            self.pos = i + 1
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if depth < 0:
                raise self.error(
                    f"unexpected '}}' in tag; expected '{closer}' to close the tag", i, i + 1
                )
        else:
            raise self.error(
                f"unexpected character {ch!r} in tag; expected a name, a literal, "
                "an operator or '}}'",
                i,
                i + 1,
            )
        return depth

    def lex_number(self, i: int) -> None:
        m = _NUMBER_RE.match(self.source, i)
        assert m is not None  # called on a digit
        text = m.group()
        if not _GOOD_NUMBER_RE.fullmatch(text):
            raise self.error(
                f"bad number literal {text!r}; expected digits, an optional fraction and exponent",
                i,
                m.end(),
            )
        is_float = "." in text or "e" in text.lower()
        if not is_float and len(text) > _MAX_INT_DIGITS:
            raise self.error(
                f"bad number literal: {len(text)} digits; expected at most {_MAX_INT_DIGITS}",
                i,
                m.end(),
            )
        self.add("float" if is_float else "int", text, i, m.end())
        self.pos = m.end()

    def lex_string(self, start: int) -> None:
        """Reads a quoted string with Python escapes; unknown escapes keep their backslash.

        A string may span lines: classic programs put `stop='\n'` in non-raw Python strings,
        which leaves a real newline between the quotes.
        """
        src = self.source
        quote = src[start]
        parts: list[str] = []
        i = start + 1
        while True:
            if i >= len(src):
                raise self.error(
                    f"unterminated string: found end of template, expected a closing {quote}",
                    start,
                    start + 1,
                )
            ch = src[i]
            if ch == quote:
                break
            if ch == "\\":
                text, i = self.read_escape(i)
                parts.append(text)
            else:
                parts.append(ch)
                i += 1
        self.add("string", "".join(parts), start, i + 1)
        self.pos = i + 1

    def read_escape(self, i: int) -> tuple[str, int]:
        """Decodes the escape sequence at `i` (a backslash); returns its text and next offset."""
        src = self.source
        code = src[i + 1 : i + 2]
        if code in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[code], i + 2
        if code in _HEX_ESCAPES:
            width = _HEX_ESCAPES[code]
            digits = src[i + 2 : i + 2 + width]
            good = len(digits) - len(digits.lstrip("0123456789abcdefABCDEF"))
            if good != width:
                raise self.error(
                    f"bad escape '\\{code}{digits[:good]}' in string; expected '\\{code}' "
                    f"followed by {width} hex digits",
                    i,
                    i + 2 + good,
                )
            value = int(digits, 16)
            if value > 0x10FFFF:
                raise self.error(f"bad escape '\\{code}{digits}': not a Unicode code point", i)
            return chr(value), i + 2 + width
        return "\\", i + 1  # unknown escapes (`\d` in a regex) keep their backslash


def _next_special(src: str, i: int) -> int:
    """The offset of the next character after `i` that may start `{{`, `}}` or an escape."""
    m = _SPECIAL_RE.search(src, i + 1)
    return m.start() if m else len(src)


def tokenize(source: str, name: str | None = None) -> list[Token]:
    """Splits a template into tokens; raises TemplateSyntaxError on malformed text or tags.

    >>> [t.kind for t in tokenize("a {{x}}")]
    ['text', 'open', 'name', 'close']
    """
    return _Lexer(source, name).run()


_BRACES_RE = re.compile(r"(\\*)(\{\{|\}\})")


def escape_text(text: str, followed: bool = False) -> str:
    """Template source whose output is exactly `text`, with no tag in it: `{{` and `}}` are
    escaped, and a backslash right before them (or before the template source that follows,
    when `followed`) is kept from escaping anything.

    >>> escape_text("say {{set 'x' 1}}")
    "say \\\\{{set 'x' 1\\\\}}"

    A literal backslash just before a literal `{{` cannot be written with escapes alone
    (`\\\\{{` is a backslash and then a real tag), so that `{{` is written as the tag
    `{{'{{'}}`, which outputs it.
    """
    out: list[str] = []
    last = 0
    for m in _BRACES_RE.finditer(text):
        slashes, braces = m.group(1), m.group(2)
        out.append(text[last : m.start()])
        if braces == "}}" or not slashes:
            out.append(f"{slashes}\\{braces}")
        else:
            out.append(f"{slashes}\\{{{{'{{{{'}}}}")  # `\\{{` is a backslash, then the tag
        last = m.end()
    tail = text[last:]
    if followed and tail.endswith("{"):
        out.append(_before_tag(tail[:-1]) + "{{'{'}}")  # or it would make `{{{`
    else:
        out.append(_before_tag(tail) if followed else tail)
    return "".join(out)


def _before_tag(text: str) -> str:
    """`text` followed by a tag: one more backslash keeps a trailing run from escaping it."""
    return text + "\\" if text.endswith("\\") else text
