"""Prompt-lookup drafts: guess the next tokens by finding the context's last n-gram earlier on.

Templates often copy from their own context (a name read from a document, a key repeated from a
schema). `NgramDrafter` indexes a growing token sequence incrementally (each n-gram, for n from
`min_n` to `max_n`, maps to the position after its most recent earlier occurrence) and proposes
the tokens that followed the longest n-gram matching the sequence's end::

    drafter = NgramDrafter(max_n=3, min_n=1)
    drafter.extend([5, 6, 7, 8, 9, 5, 6])
    drafter.propose(3)          # [7, 8, 9]: what followed the earlier "5 6"

The decode loop (`transformers_decode.py`) feeds the drafts with the token it sampled and keeps
the logits after each, so a draft the model then samples costs no pass of its own.
"""

from __future__ import annotations

from collections.abc import Iterable


class NgramDrafter:
    """An incremental index of n-gram -> position after its latest earlier occurrence."""

    def __init__(self, max_n: int = 3, min_n: int = 1) -> None:
        if not 1 <= min_n <= max_n:
            raise ValueError(f"NgramDrafter needs 1 <= min_n <= max_n; found min_n={min_n}, "
                             f"max_n={max_n}")
        self.max_n, self.min_n = max_n, min_n
        self.tokens: list[int] = []
        # An n-gram ending at position i is indexed only once token i + 1 arrives: the
        # sequence's own final n-grams are never found for themselves, and every entry has a
        # continuation.
        self._after: dict[tuple[int, ...], int] = {}

    def __len__(self) -> int:
        return len(self.tokens)

    def extend(self, tokens: Iterable[int]) -> None:
        """Append tokens to the indexed sequence."""
        seq, after = self.tokens, self._after
        for token in tokens:
            end = len(seq)  # the n-grams ending just before `token` continue at `end`
            for n in range(self.min_n, min(self.max_n, end) + 1):
                after[tuple(seq[end - n : end])] = end
            seq.append(token)

    def propose(self, k: int) -> list[int]:
        """Up to `k` tokens that followed the most recent earlier occurrence of the longest
        n-gram (max_n down to min_n) the sequence ends with; [] when none occurred before."""
        seq = self.tokens
        if k <= 0:
            return []
        for n in range(min(self.max_n, len(seq)), self.min_n - 1, -1):
            start = self._after.get(tuple(seq[len(seq) - n :]))
            if start is not None:
                return seq[start : start + k]
        return []
