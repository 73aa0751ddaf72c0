"""Stop strings and `stop_regex` on streamed text: where to cut, and what to hold back.

Every backend ends a gen the same way: at the earliest stop string or stop-regex match, with the
stop text itself left out of the value. While streaming, the tail of the text that could still
become a stop (`"<|im_"` before `"<|im_end|>"`, or a partial regex match) is held back so no
chunk ever shows text that a later chunk takes away::

    >>> scanner = StopScanner(stop=("END",))
    >>> scanner.feed("Hello E"), scanner.feed("N"), scanner.feed("D and more")
    ('Hello ', '', '')
    >>> scanner.text, scanner.stop_text, scanner.stopped
    ('Hello ', 'END', True)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import regex


def find_stop(
    text: str, stop: Sequence[str], stop_regex: Sequence[str] = ()
) -> tuple[int, str] | None:
    """The earliest stop string or stop-regex match in `text`: (start, matched text), or None.

    >>> find_stop("a, b. c", (".", ","))
    (1, ',')
    """
    best: tuple[int, str] | None = None
    for s in stop:
        pos = text.find(s) if s else -1
        if pos >= 0 and (best is None or pos < best[0]):
            best = (pos, s)
    for pattern in stop_regex:
        m = re.search(pattern, text)
        if m is not None and (best is None or m.start() < best[0]):
            best = (m.start(), m.group(0))
    return best


def hold_back(text: str, stop: Sequence[str], stop_regex: Sequence[str] = ()) -> int:
    """How many trailing characters of `text` could be the start of a stop string or match.

    >>> hold_back("Hello <|im", ("<|im_end|>",))
    4
    """
    hold = 0
    for pattern in stop_regex:
        # `regex` reports a match that the next text could still complete (partial=True)
        match = regex.search(pattern, text, partial=True)
        if match is not None and match.partial:
            hold = max(hold, len(text) - match.start())
    for s in stop:
        for k in range(min(len(s) - 1, len(text)), hold, -1):
            if text.endswith(s[:k]):
                hold = k
                break
    return hold


def cut_at_stop(
    text: str, stop: Sequence[str], stop_regex: Sequence[str] = ()
) -> tuple[str, str] | None:
    """(`text` before the first stop, the stop text), or None when no stop occurs.

    >>> cut_at_stop("yes.\\nno", ("\\n",))
    ('yes.', '\\n')
    """
    found = find_stop(text, stop, stop_regex)
    return None if found is None else (text[: found[0]], found[1])


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

    def feed(self, delta: str) -> str:
        """Add `delta`; the newly showable text (possibly empty)."""
        if self.stopped or not delta:
            return ""
        full = self.text + delta
        found = find_stop(full, self.stop, self.stop_regex)
        if found is not None:
            self.text, self.stop_text, self.stopped = full[: found[0]], found[1], True
            return self._release(len(self.text))
        self.text = full
        return self._release(len(full) - hold_back(full, self.stop, self.stop_regex))

    def finish(self) -> str:
        """The stream ended: show whatever was held back."""
        return self._release(len(self.text))

    def _release(self, upto: int) -> str:
        if upto <= self.emitted:
            return ""
        out = self.text[self.emitted : upto]
        self.emitted = upto
        return out
