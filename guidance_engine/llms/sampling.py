"""Sampling step: turn masked next-token logits into chosen tokens and their log-probabilities.

    >>> logits = torch.tensor([[0.0, 2.0, 1.0]])
    >>> choose(logits, temperature=0.0, top_p=1.0, generator=None).tolist()
    [1]
    >>> round(token_logprobs(logits, torch.tensor([1]), top=0)[0][0], 4)
    -0.4076

Greedy decoding (temperature 0) is an argmax; otherwise logits are divided by the temperature,
cut to the smallest set of tokens whose probability reaches `top_p`, and sampled with a seeded
`torch.Generator` so a `seed=` gives the same text on every run.
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")


def make_generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    """A generator seeded with `seed`, or None (torch's global RNG) when no seed is given."""
    if seed is None:
        return None
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def _top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    # [B, V]: keep the most likely tokens until their cumulative probability reaches top_p.
    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
    cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    drop_sorted = cumulative - torch.softmax(sorted_logits, dim=-1) >= top_p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, NEG_INF)


def choose(
    logits: torch.Tensor,
    temperature: float,
    top_p: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One token per row of `logits` [B, V] -> [B] (argmax when temperature is 0)."""
    if temperature <= 0.0:
        return torch.argmax(logits, dim=-1)
    scaled = logits.float() / temperature
    if top_p < 1.0:
        scaled = _top_p_filter(scaled, top_p)
    probs = torch.softmax(scaled, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def token_logprobs(
    logits: torch.Tensor, chosen: torch.Tensor, top: int
) -> list[tuple[float, list[tuple[int, float]]]]:
    """Per row: the log-probability of `chosen` and the `top` most likely (token, logprob).

    Log-probabilities are those of the model's (masked) distribution before temperature.
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    picked = logp.gather(-1, chosen.view(-1, 1)).squeeze(-1).tolist()
    rows: list[tuple[float, list[tuple[int, float]]]] = []
    if top > 0:
        values, ids = torch.topk(logp, k=min(top, logp.shape[-1]), dim=-1)
    for row, value in enumerate(picked):
        alts = list(zip(ids[row].tolist(), values[row].tolist(), strict=True)) if top > 0 else []
        rows.append((float(value), alts))
    return rows
