"""Exact select on llama.cpp: every option scored by forced tokens and the model's own logprobs.

llama.cpp reports a chosen token's log-probability from the model's logits before any bias or
grammar, with the `n_probs` most likely alternatives. So a token is scored exactly by a 1-token
request that forces it (`logit_bias` +100 on it, greedy), and the alternatives of the same
request score its siblings for free. The options' tokens form a trie after their shared prompt;
each trie node with children costs one request (more only for children neither forced nor among
the alternatives), in depth-first order on the session's slot, so every request finds its
prompt cached but for the last token. An option's score is the sum of its tokens' logprobs,
normalised over the options: the same numbers as the Transformers backend's trie pass, up to
the GGUF's quantisation::

    >>> (await LlamaCpp().session().select(SelectRequest("Is water wet?", (" yes", " no")))).choice
    ' yes'
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from guidance_engine.errors import GuidanceError, ModelAPIError
from guidance_engine.llms.base import GenStats, SelectRequest, SelectResult
from guidance_engine.llms.kv import common_prefix
from guidance_engine.llms.llamacpp_model import GenerationCancelled, LlamaCppModel
from guidance_engine.llms.local import option_sequences

#: Alternatives asked for with each request: siblings found among them cost no request.
ALTERNATIVES = 16
FORCE = 100.0  # a logit bias no model's logit gap reaches

Node = tuple[int, ...]  # the option tokens after the shared prompt, up to a trie node


def select_exact(
    llm: LlamaCppModel, slot_for: Callable[[list[int]], int], request: SelectRequest,
    stopped: Callable[[], bool],
) -> SelectResult:
    """Score every option of `request` exactly on the session's slot (`slot_for(prompt)`)
    and choose one; `stopped()` says the session was closed or its caller cancelled."""
    if not request.options:
        raise GuidanceError("select needs at least one option; found none")
    healing = llm.token_healing if request.token_healing is None else request.token_healing
    seqs = option_sequences(llm.encoder, llm.tokenizer, request, healing)
    start = min(common_prefix(seqs[0], seq) for seq in seqs)
    if start == 0:
        raise GuidanceError(
            "select needs prompt text before the options (found an empty prompt and a model "
            "without a beginning-of-text token)")
    llm.check_context(max(len(s) for s in seqs), 0)
    stem = seqs[0][:start]
    slot = slot_for(stem)
    reused = llm.slots.reusable(slot, stem)
    before = llm.requests
    edges = _score_trie(llm, slot, stem, [seq[start:] for seq in seqs], stopped)
    scores = [sum(edges[(tuple(seq[start:i]), seq[i])] for i in range(start, len(seq)))
              for seq in seqs]
    norm = _logsumexp(scores)
    logprobs = [s - norm for s in scores]
    choice = _choose(logprobs, request.temperature, request.seed)
    requests = llm.requests - before
    stats = GenStats(prompt_tokens=start, fed_tokens=len(stem) - reused + requests,
                     reused_tokens=reused, forward_passes=requests)
    values = dict(zip(request.options, logprobs, strict=True))
    return SelectResult(request.options[choice], values, stats, method="exact", exact=True)


def _score_trie(
    llm: LlamaCppModel, slot: int, stem: list[int], tails: list[list[int]],
    stopped: Callable[[], bool],
) -> dict[tuple[Node, int], float]:
    """logprob of each trie edge (node, next token) given stem + node."""
    children: dict[Node, set[int]] = {}
    for tail in tails:
        for depth, token in enumerate(tail):
            children.setdefault(tuple(tail[:depth]), set()).add(token)
    edges: dict[tuple[Node, int], float] = {}
    # Sorted node tuples are a depth-first preorder: each prompt extends a cached one.
    for node in sorted(children):
        missing = set(children[node])
        prompt = stem + list(node)
        while missing:
            if stopped():
                raise GenerationCancelled("the session was closed during a select")
            forced = min(missing)
            entry = _forced_token(llm, slot, prompt, forced)
            for alt in [entry, *entry.get("top_logprobs", ())]:
                token = int(alt["id"])
                if token in missing:
                    edges[(node, token)] = float(alt["logprob"])
                    missing.discard(token)
        llm.slots.record(slot, prompt)
    return edges


def _forced_token(llm: LlamaCppModel, slot: int, prompt: list[int], token: int) -> dict[str, Any]:
    """The logprobs record of `token` forced after `prompt` (one 1-token request)."""
    reply = llm.complete({
        "prompt": prompt, "max_tokens": 1, "temperature": 0.0, "n_probs": ALTERNATIVES,
        "logit_bias": [[token, FORCE]], "id_slot": slot, "cache_prompt": True,
    })
    content = ((reply["choices"][0].get("logprobs") or {}).get("content")) or []
    if not content or int(content[0]["id"]) != token:
        found = content[0].get("id") if content else None
        raise ModelAPIError(
            f"llama.cpp did not take the forced token {token} in a select (found {found}); "
            "its logit bias was not applied")
    entry: dict[str, Any] = content[0]
    return entry


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _choose(logprobs: list[float], temperature: float, seed: int | None) -> int:
    if temperature <= 0:
        return max(range(len(logprobs)), key=lambda i: logprobs[i])
    weights = [math.exp(lp / temperature) for lp in logprobs]
    return random.Random(seed).choices(range(len(logprobs)), weights)[0]
