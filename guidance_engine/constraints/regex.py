"""One regex dialect for `pattern=` and `stop_regex=`: the engine's (Rust `regex` crate syntax).

Patterns are checked by the engine before any model call (`validate`), constrained values are
decoded by the engine, and a finished value is tested against its pattern by the engine too
(`full_match`), so a pattern never means one thing to the mask and another to the check::

    >>> full_match(r"\\d+", "2024"), full_match(r"\\d+", "20 24")
    (True, False)

Stop regexes on unconstrained text are searched with the `regex` module (`llms/stops.py`),
which reads the engine's syntax the same way for what the engine accepts (classes, `\\p{L}`,
repetition, flags); a stop regex the engine refuses never reaches it.
"""

from __future__ import annotations

import functools

import llguidance

from guidance_engine.constraints.spec import ConstraintSpec, validate
from guidance_engine.constraints.vocab import TokenIndex
from guidance_engine.errors import ConstraintError


@functools.lru_cache(maxsize=256)
def _grammar(pattern: str) -> str:
    return str(llguidance.LLMatcher.grammar_from_regex(pattern))


def full_match(pattern: str, text: str) -> bool:
    """Whether the whole of `text` matches `pattern`, read by the engine (False for a pattern the
    engine refuses). Compiled once per pattern on the byte vocabulary, then copied."""
    matcher = TokenIndex.bytes_level().compile(_grammar(pattern))
    if matcher.is_error():
        return False
    data = list(text.encode("utf-8"))
    return matcher.try_consume_tokens(data) == len(data) and matcher.is_accepting()


class RegexSearch:
    """The leftmost match of one engine regex in text that only grows, found incrementally.

    Every character position starts a match attempt on the engine's byte-level automaton; an
    attempt lives while its text can still grow into a match, so each new character costs one
    step per live attempt (usually one or two)::

        >>> search = RegexSearch(r"\\d+ units")
        >>> search.extend("It is 4"); search.match(), search.pending()
        (None, 6)
        >>> search.extend("2 units long"); search.match()
        (6, 14)

    `match()` is (start, end) of the leftmost match, longest at that start so far; `pending()`
    is where the leftmost attempt that may still match begins (text from there must be held
    back while streaming), or None.
    """

    def __init__(self, pattern: str) -> None:
        self._pristine = TokenIndex.bytes_level().compile(_grammar(pattern))
        if self._pristine.is_error():  # normally refused with its reason before the run
            validate(ConstraintSpec(stop_regex=(pattern,)))
            raise ConstraintError(f"stop_regex {pattern!r}: {self._pristine.get_error()}")
        self._length = 0
        self._live: list[tuple[int, llguidance.LLMatcher]] = []  # (start, attempt), by start
        self._best: tuple[int, int] | None = None

    def extend(self, text: str) -> None:
        """Read `text` after what was read before (characters, not bytes)."""
        for char in text:
            self._start_attempt()
            data = list(char.encode("utf-8"))
            self._length += 1
            self._live = [(s, m) for s, m in self._live if m.try_consume_tokens(data) == len(data)]
            self._note_matches()
        self._start_attempt()
        self._note_matches()

    def match(self) -> tuple[int, int] | None:
        return self._best

    def pending(self) -> int | None:
        starts = [start for start, _ in self._live if self._best is None or start < self._best[0]]
        return min(starts) if starts else None

    def _start_attempt(self) -> None:
        if self._best is None and not any(start == self._length for start, _ in self._live):
            self._live.append((self._length, self._pristine.deep_copy()))

    def _note_matches(self) -> None:
        for start, matcher in self._live:
            if self._best is not None and start > self._best[0]:
                break
            if matcher.is_accepting():
                self._best = (start, self._length)
                break
        if self._best is not None:  # only the leftmost match can still grow
            self._live = [(s, m) for s, m in self._live if s == self._best[0]]
