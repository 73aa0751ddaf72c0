"""Token healing: which prompt tokens to back up at a prompt/generation seam, and the text removed.

A prompt tokenized on its own often ends in a token the model would rarely have seen right
there: `http:` ends in `:`, yet the model always writes `://` as one token. Healing removes the
last token(s) from the prompt and makes the generation start by re-producing the removed text,
so the model is free to pick the longer token::

    >>> ids = index.encode('The link is <a href="http:')   # [..., 'http', ':']
    >>> plan = heal(ids, index)
    >>> plan.keep == len(ids) - 1, plan.prefix
    (True, ':')

The backend feeds `ids[:plan.keep]`, then builds a `Matcher` with
`ConstraintSpec(..., healing_prefix=plan.prefix)`, which only allows tokens that re-produce the
prefix (and keep any constraint satisfiable); `Matcher.result()` strips the prefix again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from guidance_engine.constraints.vocab import TokenIndex

#: How many prompt tokens healing may back up over. Two covers `http` + `:` → `http://` style
#: merges; more rarely helps and costs re-feeding those tokens.
MAX_BACKUP = 2


@dataclass(frozen=True)
class HealPlan:
    """Keep `token_ids[:keep]`; the generated text must start with `prefix` (removed text)."""

    keep: int
    prefix: str = ""
    removed: int = 0  # how many prompt tokens were backed up

    @property
    def healed(self) -> bool:
        return bool(self.prefix)


def heal(token_ids: Sequence[int], index: TokenIndex, max_backup: int = MAX_BACKUP) -> HealPlan:
    """Plan the healing of a prompt's last tokens.

    Backs up over the largest number `k <= max_backup` of trailing tokens whose joined bytes are
    a proper prefix of some vocabulary token (so the model can choose a longer token covering
    the seam). Never backs up over the first token (the model needs context), over a special
    token, or to a removed text that is not valid UTF-8 (a byte-fallback split of one
    character); returns `keep=len(token_ids)` and an empty prefix when nothing qualifies.

    >>> heal(index.encode("Hello"), index).healed
    False
    """
    total = len(token_ids)
    best = HealPlan(keep=total)
    removed = b""
    for k in range(1, min(max_backup, total - 1) + 1):
        token = token_ids[total - k]
        if index.is_special(token):
            break
        removed = index.token_bytes(token) + removed
        if not index.has_extension(removed):
            continue
        try:
            text = removed.decode("utf-8")
        except UnicodeDecodeError:
            continue
        best = HealPlan(keep=total - k, prefix=text, removed=k)
    return best
