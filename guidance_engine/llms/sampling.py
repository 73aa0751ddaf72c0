"""Sampling step: turn logits into chosen tokens and log-probabilities (of tokens and of options).

    >>> logits = torch.tensor([[0.0, 2.0, 1.0]])
    >>> choose(logits, temperature=0.0, top_p=1.0, generator=None).tolist()
    [1]
    >>> round(token_logprobs(logits, torch.tensor([1]), top=0)[0][0], 4)
    -0.4076

Greedy decoding (temperature 0) is an argmax; otherwise logits are divided by the temperature,
cut to the smallest set of tokens whose probability reaches `top_p`, and sampled with a seeded
`torch.Generator` so a `seed=` gives the same text on every run. For `select`, the options'
tokens form an `OptionTrie`; one forward pass over the trie (tree-shaped attention) gives the
logits at every branching node, and `path_scores` sums each option's token log-probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
    return _draw(torch.softmax(scaled, dim=-1), generator)


def _draw(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One index per row of `probs` [B, V] by inverse CDF: a float64 cumulative sum and a binary
    search (~0.04 ms for a 49k vocabulary, where torch.multinomial takes ~0.8 ms, 2% of a
    SmolLM2 pass). A token of probability 0 spans an empty interval, so it is never drawn."""
    cdf = probs.double().cumsum(dim=-1)
    u = torch.rand(probs.shape[0], 1, generator=generator, device=probs.device,
                   dtype=cdf.dtype) * cdf[:, -1:]
    index = torch.searchsorted(cdf, u, right=True).clamp_(max=probs.shape[-1] - 1)
    return index.squeeze(-1)


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


class OptionTrie:
    """Token trie of the options' continuations below a stem (a chain of shared tokens)."""

    def __init__(self, stem: Sequence[int]) -> None:
        assert stem, "the stem holds at least the root token"
        self.tokens = list(stem)
        self.parent = list(range(-1, len(stem) - 1))
        self.depth = list(range(len(stem)))
        self.root = len(stem) - 1
        self._children: dict[tuple[int, int], int] = {}

    def insert(self, tokens: Sequence[int]) -> list[int]:
        """Add a path below the root; returns its node ids (shared prefixes reuse nodes)."""
        node, path = self.root, []
        for token in tokens:
            child = self._children.get((node, token))
            if child is None:
                child = len(self.tokens)
                self._children[(node, token)] = child
                self.tokens.append(token)
                self.parent.append(node)
                self.depth.append(self.depth[node] + 1)
            path.append(child)
            node = child
        return path

    def ancestor_matrix(self) -> torch.Tensor:
        """[N, N] bool: entry (i, j) is True when node j is node i or one of its ancestors."""
        n = len(self.tokens)
        allowed = torch.zeros(n, n, dtype=torch.bool)
        for i in range(n):
            # Parents come before children, so the parent's row is already complete.
            if self.parent[i] >= 0:
                allowed[i] = allowed[self.parent[i]]
            allowed[i, i] = True
        return allowed


def path_scores(
    logits: torch.Tensor, internal: list[int], trie: OptionTrie, paths: list[list[int]]
) -> torch.Tensor:
    """Sum of log-probabilities along each path; `logits` [K, V] belong to the `internal` nodes."""
    row_of = {node: k for k, node in enumerate(internal)}
    # Only the log-probabilities of child tokens are needed: gather them chunk by chunk so a
    # 1,000-option trie never holds a second [K, V] tensor.
    child_lp: dict[int, float] = {}
    children = list(range(trie.root + 1, len(trie.tokens)))
    for start in range(0, len(children), 512):
        chunk = children[start : start + 512]
        rows = torch.tensor([row_of[trie.parent[c]] for c in chunk], device=logits.device)
        toks = torch.tensor([trie.tokens[c] for c in chunk], device=logits.device)
        lp = torch.log_softmax(logits[rows].float(), dim=-1)
        values = lp.gather(1, toks.view(-1, 1)).squeeze(1).tolist()
        child_lp.update(zip(chunk, values, strict=True))
    return torch.tensor([math.fsum(child_lp[n] for n in path) for path in paths],
                        dtype=torch.float64)


# ---------------------------------------------------------------- model-specific sampling keywords


@dataclass(frozen=True)
class Processors:
    """Hugging Face logits processors built from a gen's sampling keywords.

    `penalties` (repetition_penalty, no_repeat_ngram_size) change the raw logits and so also
    greedy decoding; `warpers` (top_k, typical_p, min_p, epsilon_cutoff) reshape the
    temperature-scaled distribution, as `generate` does, and only matter when sampling.
    """

    penalties: tuple[Any, ...] = ()
    warpers: tuple[Any, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.penalties or self.warpers)


def build_processors(extra: Mapping[str, Any]) -> Processors:
    """`Processors` for the sampling keywords in `extra` (other keys are ignored).

    >>> bool(build_processors({"repetition_penalty": 1.3}))
    True
    """
    from transformers import (
        EpsilonLogitsWarper,
        MinPLogitsWarper,
        NoRepeatNGramLogitsProcessor,
        RepetitionPenaltyLogitsProcessor,
        TopKLogitsWarper,
        TypicalLogitsWarper,
    )

    penalties: list[Any] = []
    warpers: list[Any] = []
    if extra.get("repetition_penalty") is not None:
        penalties.append(RepetitionPenaltyLogitsProcessor(float(extra["repetition_penalty"])))
    if extra.get("no_repeat_ngram_size"):
        penalties.append(NoRepeatNGramLogitsProcessor(int(extra["no_repeat_ngram_size"])))
    if extra.get("top_k"):
        warpers.append(TopKLogitsWarper(int(extra["top_k"])))
    if extra.get("typical_p") is not None and extra["typical_p"] < 1.0:
        warpers.append(TypicalLogitsWarper(float(extra["typical_p"])))
    if extra.get("min_p"):
        warpers.append(MinPLogitsWarper(float(extra["min_p"])))
    if extra.get("epsilon_cutoff"):
        warpers.append(EpsilonLogitsWarper(float(extra["epsilon_cutoff"])))
    return Processors(tuple(penalties), tuple(warpers))


def choose_processed(
    logits: torch.Tensor,
    input_ids: Sequence[int],
    processors: Processors,
    temperature: float,
    top_p: float,
    generator: torch.Generator | None,
) -> int:
    """One token for one row of `logits` [1, V] after the penalties and warpers; `input_ids`
    is everything the model has seen for this row (prompt and generated tokens)."""
    ids = torch.tensor([list(input_ids)], dtype=torch.long, device=logits.device)
    scores = logits.float()
    for processor in processors.penalties:
        scores = processor(ids, scores)
    if temperature > 0 and processors.warpers:
        scores = scores / temperature
        for warper in processors.warpers:
            scores = warper(ids, scores)
        temperature = 1.0
    return int(choose(scores, temperature, top_p, generator)[0])
