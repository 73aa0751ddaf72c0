"""Fixtures for the constraint tests: real tokenizers (no model weights) and a random-logits model.

The "model" draws standard-normal logits over the real vocabulary and samples at temperature 1.0,
so any token the mask lets through is a plausible pick: a mask that allowed a bad token would
be caught, not hidden by a model's preferences.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
    """Samples constrained tokens from random logits; optional biases steer towards an end.

    `finish_bias` maps token ids to a logit bonus applied after `patience` sampled tokens, so
    runs over recursive grammars (strings, nested lists) terminate instead of wandering.
    """

    def __init__(self, index: TokenIndex, seed: int) -> None:
        self.index = index
        self.gen = torch.Generator().manual_seed(seed)

    def run(
        self,
        matcher: Matcher,
        max_tokens: int = 48,
        finish_bias: Mapping[int, float] | None = None,
        patience: int = 0,
    ) -> Run:
        sampled = forced = 0
        while sampled + forced < max_tokens:
            if matcher.is_finished():
                return Run("finished", sampled, forced)
            ff = matcher.forced_tokens()
            if ff:
                matcher.consume_all(ff)
                forced += len(ff)
                continue
            logits = torch.randn(self.index.vocab_size, generator=self.gen)
            if finish_bias and sampled >= patience:
                for token, bonus in finish_bias.items():
                    logits[token] += bonus
            matcher.apply_mask(logits)
            token = int(torch.multinomial(torch.softmax(logits, -1), 1, generator=self.gen))
            if token in self.index.eos_ids:
                return Run("eos", sampled, forced)
            matcher.consume(token)
            sampled += 1
        return Run("length", sampled, forced)


@pytest.fixture
def random_model() -> type[RandomModel]:
    return RandomModel


def finish_bias(index: TokenIndex) -> dict[int, float]:
    """Logit bonuses that close open structures: EOS first, then closers, then short values."""
    bias = {eos: 60.0 for eos in index.eos_ids}
    for text, bonus in [(")", 45), ("]", 45), ("}", 45), ('"', 40), ("0", 35), ("1", 34)]:
        bias.update({t: float(bonus) for t in index.encode(text)})
    for text, bonus in [("join", 30), ("\n", 25), ("(", 20)]:
        bias.update({t: float(bonus) for t in index.encode(text)})
    return bias


@pytest.fixture
def closing_bias() -> Any:
    return finish_bias
