"""Stop strings and `stop_regex` on streamed text: where to cut, and what to hold back.

Every backend ends a gen the same way, through one `StopScanner` per sample: at the earliest
stop string or stop-regex match, with the stop text itself left out of the value. While
streaming, the tail of the text that could still become a stop (`"<|im_"` before
`"<|im_end|>"`, or a partial regex match) is held back so no chunk ever shows text that a later
chunk takes away::

    >>> scanner = StopScanner(stop=("END",))
    >>> scanner.feed("Hello E"), scanner.feed("N"), scanner.feed("D and more")
    ('Hello ', '', '')
    >>> scanner.text, scanner.stop_text, scanner.stopped
    ('Hello ', 'END', True)

Stop regexes are read by the constraint engine (`constraints/regex.py`), in the one syntax that
`pattern=` uses too; a regex match is the leftmost one, as long as the text read so far allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guidance_engine.constraints.regex import RegexSearch


@dataclass
class StopScanner:
    """Incremental stop detection over text that arrives in chunks.

    `feed(delta)` returns the part of the text now safe to show (never a prefix of a stop);
    once a stop is seen, `stopped` is True, `text` is the value before it and `stop_text` the
    stop. `finish()` releases the held-back tail when the stream ends without a stop.
    """

    stop: tuple[str, ...] = ()
    stop_regex: tuple[str, ...] = ()
    text: str = ""
    stop_text: str = ""
    stopped: bool = False
    emitted: int = 0
    _searches: list[RegexSearch] = field(default_factory=list, init=False, repr=False,
                                         compare=False)

    def __post_init__(self) -> None:
        if self.stop_regex:  # the engine is imported only when a gen has a stop regex
            from guidance_engine.constraints.regex import RegexSearch

            self._searches = [RegexSearch(pattern) for pattern in self.stop_regex]

    def feed(self, delta: str) -> str:
        """Add `delta`; the newly showable text (possibly empty)."""
        if self.stopped or not delta:
            return ""
        start = len(self.text)
        self.text += delta
        for search in self._searches:
            search.extend(delta)
        found = self._earliest_stop(start)
        if found is not None:
            self.text, self.stop_text, self.stopped = self.text[: found[0]], found[1], True
            return self._release(len(self.text))
        return self._release(len(self.text) - self.holding())

    def finish(self) -> str:
        """The stream ended: show whatever was held back."""
        return self._release(len(self.text))

    def holding(self) -> int:
        """How many trailing characters of `text` could still be the start of a stop."""
        text, hold = self.text, 0
        for search in self._searches:
            pending = search.pending()
            if pending is not None:
                hold = max(hold, len(text) - pending)
        for s in self.stop:
            for k in range(min(len(s) - 1, len(text)), hold, -1):
                if text.endswith(s[:k]):
                    hold = k
                    break
        return hold

    def _earliest_stop(self, start: int) -> tuple[int, str] | None:
        """The earliest stop in `text`, given that none ended before `start` was added."""
        best: tuple[int, str] | None = None
        for s in self.stop:
            pos = self.text.find(s, max(0, start - len(s) + 1)) if s else -1
            if pos >= 0 and (best is None or pos < best[0]):
                best = (pos, s)
        for search in self._searches:
            match = search.match()
            if match is not None and (best is None or match[0] < best[0]):
                best = (match[0], self.text[match[0] : match[1]])
        return best

    def _release(self, upto: int) -> str:
        if upto <= self.emitted:
            return ""
        out = self.text[self.emitted : upto]
        self.emitted = upto
        return out


def find_stop(
    text: str, stop: Sequence[str], stop_regex: Sequence[str] = ()
) -> tuple[int, str] | None:
    """The earliest stop string or stop-regex match in `text`: (start, matched text), or None.

    >>> find_stop("a, b. c", (".", ","))
    (1, ',')
    """
    scanner = StopScanner(tuple(stop), tuple(stop_regex))
    scanner.feed(text)
    return (len(scanner.text), scanner.stop_text) if scanner.stopped else None


def hold_back(text: str, stop: Sequence[str], stop_regex: Sequence[str] = ()) -> int:
    """How many trailing characters of `text` (which holds no stop) could start one.

    >>> hold_back("Hello <|im", ("<|im_end|>",))
    4
    """
    scanner = StopScanner(tuple(stop), tuple(stop_regex))
    return len(text) - len(scanner.feed(text))


def cut_at_stop(
    text: str, stop: Sequence[str], stop_regex: Sequence[str] = ()
) -> tuple[str, str] | None:
    """(`text` before the first stop, the stop text), or None when no stop occurs.

    >>> cut_at_stop("yes.\\nno", ("\\n",))
    ('yes.', '\\n')
    """
    found = find_stop(text, stop, stop_regex)
    return None if found is None else (text[: found[0]], found[1])
