"""Replay: could a decoding loop under a constraint have produced a given text?

Walks the text the way the backends' loop runs (see `constraints/__init__.py`): when the
constraint forces tokens they are fed and must spell the next bytes of the text; otherwise the
next token is the tokenizer's own tokenization of the rest of the text, or, when the mask does
not allow that one, the longest allowed token that spells the next bytes (a sampling model
could have picked it). At the end the constraint must be complete. Used by tests and by
`benchmarks/bench_jsonschema.py` to check that valid instances can be generated and invalid
ones cannot::

    >>> replay(Matcher(ConstraintSpec(pattern="[0-9]+"), index), "123", index)
    >>> replay(Matcher(ConstraintSpec(pattern="[0-9]+"), index), "12a", index)
    "b'a' at byte 2 is not allowed after b'12'"

`EngineSteps` adapts llguidance's own `LLMatcher` to the same walk, so the engine used directly
can be measured on equal terms.
"""

from __future__ import annotations

import weakref
from typing import Protocol

import llguidance
import numpy as np

from guidance_engine.constraints.vocab import TokenIndex, unpack_mask


class Steps(Protocol):
    """The four verbs the walk needs from a matcher."""

    def forced_tokens(self) -> list[int]: ...
    def allowed(self) -> np.ndarray: ...  # bool [vocab]
    def consume(self, token: int) -> None: ...
    def is_accepting(self) -> bool: ...


class EngineSteps:
    """llguidance's `LLMatcher` (used directly) behind the `Steps` verbs."""

    def __init__(self, engine: llguidance.LLMatcher, vocab_size: int) -> None:
        self.engine = engine
        self.vocab_size = vocab_size

    def forced_tokens(self) -> list[int]:
        return list(self.engine.compute_ff_tokens())

    def allowed(self) -> np.ndarray:
        return unpack_mask(self.engine.compute_bitmask(), self.vocab_size).view(np.bool_)

    def consume(self, token: int) -> None:
        if not self.engine.consume_token(token):
            raise ValueError(self.engine.get_error())

    def is_accepting(self) -> bool:
        return self.engine.is_accepting()


class _TokensByBytes:
    """Token ids by their exact bytes (built once per index), for the longest-token fallback."""

    def __init__(self, index: TokenIndex) -> None:
        self.ids: dict[bytes, list[int]] = {}
        for i in range(index.vocab_size):
            data = index.token_bytes(i)
            if data and not index.is_special(i):
                self.ids.setdefault(data, []).append(i)
        self.longest = max(len(b) for b in self.ids)


# Keyed by the index itself, held weakly: a table never outlives its index or serves another.
_BY_BYTES: weakref.WeakKeyDictionary[TokenIndex, _TokensByBytes] = weakref.WeakKeyDictionary()


def _by_bytes(index: TokenIndex) -> _TokensByBytes:
    table = _BY_BYTES.get(index)
    if table is None:
        table = _BY_BYTES[index] = _TokensByBytes(index)
    return table


def replay(steps: Steps, text: str | bytes, index: TokenIndex, max_steps: int = 100_000) -> (
        str | None):
    """None if `steps` lets a decoding loop produce exactly `text`, else why not (in words)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    pos, plan = 0, _Plan(index, data, 0)
    for _ in range(max_steps):
        if pos == len(data):
            return None if steps.is_accepting() else f"incomplete at the end of {data[-40:]!r}"
        forced = steps.forced_tokens()
        if forced:
            spelled = index.decode(forced)
            if not data.startswith(spelled, pos):
                return f"forced {spelled!r} at byte {pos} but the text has {data[pos:pos + 20]!r}"
            for forced_token in forced:
                steps.consume(forced_token)
            pos += len(spelled)
            plan = _Plan(index, data, pos)
            continue
        token = _next_token(steps.allowed(), plan.next(), data, pos, index)
        if token is None:
            return f"{data[pos:pos + 1]!r} at byte {pos} is not allowed after {data[:pos][-40:]!r}"
        steps.consume(token)
        pos += len(index.token_bytes(token))
        plan = plan.advance(token, pos)
    return f"gave up after {max_steps} steps"


class _Plan:
    """The tokenizer's own tokenization of the text from byte `start` on, and how far it is used."""

    def __init__(self, index: TokenIndex, data: bytes, start: int) -> None:
        self.index, self.data = index, data
        self.tokens = index.encode(data[start:])
        self.used = 0

    def next(self) -> int | None:
        return self.tokens[self.used] if self.used < len(self.tokens) else None

    def advance(self, token: int, pos: int) -> _Plan:
        """The plan after `token` was committed (re-tokenized when it left the plan)."""
        if token == self.next():
            self.used += 1
            return self
        return _Plan(self.index, self.data, pos)


def _next_token(allowed: np.ndarray, planned: int | None, data: bytes, pos: int,
                index: TokenIndex) -> int | None:
    """The planned (canonical) token if allowed, else the longest allowed one spelling on."""
    if planned is not None and allowed[planned]:
        return planned
    table = _by_bytes(index)
    for end in range(min(len(data), pos + table.longest), pos, -1):
        for token in table.ids.get(data[pos:end], ()):
            if token < len(allowed) and allowed[token]:
                return token
    return None
