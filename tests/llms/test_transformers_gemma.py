"""Gemma3-270M (SentencePiece, byte fallback, 262k vocab): token healing and select.

Gemma is the heavy model here, so one module-scoped session covers all its cases.
"""

from __future__ import annotations

import asyncio
import math

import pytest
import torch

from guidance_engine.llms.base import GenRequest, SelectRequest
from guidance_engine.llms.transformers import Transformers


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ('The link is <a href="http:', "//www.theguardian."),  # ':' is backed up
        ("The capital of Fr", "ance, Paris, is the"),  # a seam inside a word
        ("The capital of France is ", "the capital of the country of"),  # after a space
    ],
)
def test_token_healing_gemma(gemma_llm: Transformers, prompt: str, expected: str) -> None:
    result = asyncio.run(gemma_llm.session().gen(GenRequest(prompt, max_tokens=5)))
    assert result.texts == (expected,)
    assert result.stats.healed_tokens >= 1


def test_select_gemma_matches_brute_force(gemma_llm: Transformers) -> None:
    prompt, suffix = "The best armor is made of", "."
    options = (" leather", " plate", " plate armor")
    result = asyncio.run(gemma_llm.session().select(SelectRequest(prompt, options, suffix=suffix)))
    assert math.isclose(sum(math.exp(v) for v in result.logprobs.values()), 1.0, abs_tol=1e-9)
    assert result.choice == " leather"
    seqs = [gemma_llm.encode(prompt + o + suffix) for o in options]
    shared = len(gemma_llm.encode(prompt)) - 1  # every option shares at least this much
    scores = []
    for seq in seqs:
        with torch.inference_mode():
            logits = gemma_llm.model(input_ids=torch.tensor([seq])).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        scores.append(sum(float(logp[i - 1, seq[i]]) for i in range(shared, len(seq))))
    norm = torch.logsumexp(torch.tensor(scores, dtype=torch.float64), dim=0).item()
    for option, score in zip(options, scores, strict=True):
        assert result.logprobs[option] == pytest.approx(score - norm, abs=1e-4)


def test_cache_reuse_is_exact_past_the_sliding_window(gemma_llm: Transformers) -> None:
    # Gemma3 mixes full and 512-token sliding-window layers; the session keeps full caches and
    # lets the model's masks apply the window, which must equal a from-scratch forward.
    assert gemma_llm.model.config.sliding_window == 512
    text = "".join(f"Line {i}: the quick brown fox jumps over the lazy dog number {i}.\n"
                   for i in range(40))
    session = gemma_llm.session()
    asyncio.run(session.gen(GenRequest(text[: len(text) // 2], max_tokens=3)))
    result = asyncio.run(session.gen(GenRequest(text + "Line 40:", max_tokens=3)))
    assert result.stats.reused_tokens > 0
    assert len(session.tokens) > 700
    with torch.inference_mode():
        logits = gemma_llm.model(input_ids=torch.tensor([session.tokens])).logits[0, -1]
    assert session.last_logits is not None
    assert torch.allclose(session.last_logits, logits.float(), atol=1e-4)
