"""Fixtures for the constraint tests: real tokenizers (no model weights) and a random-logits model.

The "model" draws standard-normal logits over the real vocabulary and samples at temperature 1.0,
so any token the mask lets through is a plausible pick: a mask that allowed a bad token would
be caught, not hidden by a model's preferences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

from guidance_engine.constraints import Matcher, TokenIndex


@pytest.fixture(scope="session")
def smol_tokenizer() -> Any:
    from guidance_engine.llms.model_store import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def smol(smol_tokenizer: Any) -> TokenIndex:
    """The SmolLM2 vocabulary (byte-level BPE, 49152 tokens)."""
    return TokenIndex.for_tokenizer(smol_tokenizer)


@pytest.fixture(scope="session")
def gemma_tokenizer() -> Any:
    from guidance_engine.llms.model_store import load_gemma_tokenizer

    return load_gemma_tokenizer()


@pytest.fixture(scope="session")
def gemma(gemma_tokenizer: Any) -> TokenIndex:
    """The Gemma3 vocabulary (SentencePiece with byte fallback, 262144 tokens)."""
    return TokenIndex.for_tokenizer(gemma_tokenizer)


@pytest.fixture(scope="session")
def byte_index() -> TokenIndex:
    return TokenIndex.bytes_level()


@dataclass
class Run:
    """How a sampled run ended: 'eos', 'finished' (nothing else possible) or 'length'."""

    reason: str
    sampled: int
    forced: int


class RandomModel:
    """Samples constrained tokens from random logits; optionally steers towards an end.

    After `patience` sampled tokens, the first token of `prefer` that the mask allows is taken
    instead of sampling (closers, EOS), so runs over recursive grammars (strings, nested lists)
    terminate instead of wandering. It only chooses among allowed tokens.
    """

    def __init__(self, index: TokenIndex, seed: int) -> None:
        self.index = index
        # numpy, not torch: torch's intra-op threads stall when other work holds the cores
        self.rng = np.random.default_rng(seed)

    def run(
        self,
        matcher: Matcher,
        max_tokens: int = 48,
        prefer: Sequence[int] = (),
        patience: int = 0,
    ) -> Run:
        sampled = forced = 0
        used: dict[int, int] = {}
        while sampled + forced < max_tokens:
            if matcher.is_finished():
                return Run("finished", sampled, forced)
            ff = matcher.forced_tokens()
            if ff:
                matcher.consume_all(ff)
                forced += len(ff)
                continue
            logits = self.rng.standard_normal(self.index.vocab_size, dtype=np.float32)
            matcher.apply_mask(torch.from_numpy(logits))  # writes -inf into `logits`
            allowed = np.isfinite(logits)
            # Gumbel-max: an exact sample from softmax(logits) at temperature 1.0
            ids = np.flatnonzero(allowed)
            token = int(ids[np.argmax(logits[ids] + self.rng.gumbel(size=len(ids)))])
            if prefer and sampled >= patience:
                token = self._steer(matcher, allowed, prefer, used, token)
            if token in self.index.eos_ids:
                return Run("eos", sampled, forced)
            matcher.consume(token)
            sampled += 1
        return Run("length", sampled, forced)

    def _steer(
        self,
        matcher: Matcher,
        allowed: np.ndarray,
        prefer: Sequence[int],
        used: dict[int, int],
        token: int,
    ) -> int:
        """EOS if allowed; else a preferred token that completes the value; else the allowed
        preferred token used least so far (then in order).

        Counting uses breaks loops such as ')' forever inside a string: the next time '"' wins.
        """
        if allowed[self.index.eos_id]:
            return self.index.eos_id
        ranked = [(used.get(t, 0), i, t) for i, t in enumerate(prefer) if allowed[t]]
        if not ranked:
            return token
        for _, _, candidate in sorted(ranked, key=lambda r: r[1]):
            matcher.consume(candidate)
            completes = matcher.is_accepting()
            matcher.rollback(1)
            if completes:
                return candidate
        choice = min(ranked)[2]
        used[choice] = used.get(choice, 0) + 1
        return choice


@pytest.fixture(scope="session")
def random_model() -> type[RandomModel]:
    return RandomModel


def closers(index: TokenIndex) -> list[int]:
    """Tokens that end open structures, most decisive first: EOS, closers, short values."""
    order = [*index.eos_ids]
    for text in [")", "]", "}", '"', "join", "\n", ".", ":", "0", "1", "(", " ", ","]:
        order.extend(index.encode(text))
    return order


@pytest.fixture(scope="session")
def closing_order() -> Any:
    return closers
