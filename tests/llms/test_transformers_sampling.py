"""The sampling step on hand-made logits: greedy, temperature with a seed, top_p, logprobs."""

from __future__ import annotations

import math

import torch

from guidance_engine.llms.sampling import choose, make_generator, token_logprobs


def test_greedy_is_argmax_per_row() -> None:
    logits = torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, -1.0]])
    assert choose(logits, temperature=0.0, top_p=1.0, generator=None).tolist() == [1, 0]


def test_seeded_sampling_repeats_and_top_p_cuts_the_tail() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]])).repeat(200, 1)
    draw = [choose(logits, 1.0, 1.0, make_generator(3, torch.device("cpu"))).tolist()
            for _ in range(2)]
    assert draw[0] == draw[1]
    assert set(draw[0]) == {0, 1, 2}
    # top_p=0.6: tokens 0 and 1 reach it (0.5 + 0.3); token 2 is never drawn.
    nucleus = choose(logits, 1.0, 0.6, make_generator(3, torch.device("cpu"))).tolist()
    assert set(nucleus) == {0, 1}


def test_token_logprobs_and_top_alternatives() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]]))
    value, top = token_logprobs(logits, torch.tensor([2]), top=2)[0]
    assert math.isclose(value, math.log(0.2), rel_tol=1e-6)
    assert [t for t, _ in top] == [0, 1]
    assert math.isclose(top[1][1], math.log(0.3), rel_tol=1e-6)


def test_processors_penalise_seen_tokens_and_warp_only_when_sampling() -> None:
    from guidance_engine.llms.sampling import build_processors, choose_processed

    logits = torch.tensor([[2.0, 1.9, 0.0]])
    none = build_processors({})
    assert choose_processed(logits, [0], none, 0.0, 1.0, None) == 0
    # token 0 was already seen: a penalty of 2 halves its positive logit, so 1 wins greedily
    penalty = build_processors({"repetition_penalty": 2.0})
    assert choose_processed(logits, [0], penalty, 0.0, 1.0, None) == 1
    # top_k=1 while sampling keeps only the best token
    top1 = build_processors({"top_k": 1})
    draws = {choose_processed(logits, [], top1, 1.0, 1.0, make_generator(s, torch.device("cpu")))
             for s in range(20)}
    assert draws == {0}


def test_repetition_penalty_changes_the_greedy_output_of_the_real_model(smol_llm: object) -> None:
    import guidance_engine as guidance

    template = "Repeat after me: the the the the the the{{gen 'x' max_tokens=6 temperature=0}}"
    plain = guidance(template, llm=smol_llm)()["x"]
    template = template.replace("temperature=0", "temperature=0 repetition_penalty=3.0")
    penalised = guidance(template, llm=smol_llm)()["x"]
    assert "the the" in plain  # greedy decoding continues the repetition
    assert penalised != plain and "the the" not in penalised


def test_sampling_follows_the_distribution_and_never_draws_a_masked_token() -> None:
    probs = torch.tensor([0.0, 0.5, 0.0, 0.3, 0.2, 0.0])
    logits = torch.log(probs).repeat(4000, 1)  # masked tokens at -inf
    draw = choose(logits, 1.0, 1.0, make_generator(11, torch.device("cpu")))
    counts = torch.bincount(draw, minlength=6) / 4000
    assert counts[[0, 2, 5]].tolist() == [0.0, 0.0, 0.0]
    assert torch.allclose(counts, probs, atol=0.03), counts.tolist()
