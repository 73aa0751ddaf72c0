"""What token healing costs on the real model: forward passes and fed tokens per gen (GenStats).

Healing backs up the prompt's last token and makes the first generated token start with its
text. The backed-up token is fed with the prompt anyway (the pass returns the logits after the
prompt and after that token), so when the model re-chooses it, as SmolLM2 does with ' ' before
a number, no pass is spent on feeding it again. These counts are exact: a change that spends a
pass more fails here, not in a benchmark.
"""

from __future__ import annotations

import asyncio
from typing import Any

from guidance_engine.llms.base import GenRequest, GenResult, GenStats
from guidance_engine.llms.transformers import Transformers, TransformersSession

FACTS = "The traveller was Mara Quill, a cartographer, aged 34.\n"


def gen(session: TransformersSession, prompt: str, **kwargs: Any) -> GenResult:
    return asyncio.run(session.gen(GenRequest(prompt, max_tokens=4, stop=("\n",), **kwargs)))


def test_a_re_chosen_healed_token_is_not_fed_again(smol_llm: Transformers) -> None:
    # a backend of its own: an empty cross-run prefix cache, whatever ran before
    session = Transformers(smol_llm.model, smol_llm.tokenizer).session()
    result = gen(session, FACTS + "Age: ")
    # ' ' (backed up) is re-chosen, then '2', '2', '\n': 4 samples, 3 passes (the last sample
    # is never fed). Without the shared pass it took 4.
    assert result.texts == ("22",)
    assert result.stats == GenStats(prompt_tokens=21, fed_tokens=22, reused_tokens=0,
                                    sampled_tokens=4, healed_tokens=1, forward_passes=3)
    assert session.kv.length == len(session.tokens) == 24  # prompt, ' ', '2', '2'
    _check_cache_matches_a_fresh_session(smol_llm, session, FACTS + "Age: 22\nJob: ")


def test_a_longer_first_token_drops_the_backed_up_token(smol_llm: Transformers) -> None:
    session = Transformers(smol_llm.model, smol_llm.tokenizer).session()
    result = gen(session, FACTS + "Name: ")
    # ' Mara' replaces the backed-up ' ': its cache entry is dropped, nothing is re-fed.
    assert result.texts == ("Mara Quill",)
    assert result.stats == GenStats(prompt_tokens=21, fed_tokens=22, reused_tokens=0,
                                    sampled_tokens=5, healed_tokens=1, forward_passes=5)
    assert session.kv.length == len(session.tokens)
    _check_cache_matches_a_fresh_session(smol_llm, session, FACTS + "Name: Mara Quill\nAge: ")


def _check_cache_matches_a_fresh_session(
    llm: Transformers, session: TransformersSession, follow_up: str
) -> None:
    """The next gen on the reused cache gives what a fresh session gives, feeding only the seam."""
    again = gen(session, follow_up)
    fresh = gen(Transformers(llm.model, llm.tokenizer).session(), follow_up)
    assert again.texts == fresh.texts
    assert again.stats.reused_tokens > 20 and again.stats.fed_tokens <= 4


THREE_GENS = (
    "The following notes describe a traveller who arrived at the harbour town of Vell.\n"
    "Day 1: the traveller visited the lighthouse and spoke with 3 people about the old maps.\n"
    "The traveller was Mara Quill, a cartographer, aged 34. The harbour clerk copied her papers:\n"

    "Name: {{gen 'name' max_tokens=8 stop='\\n'}}\n"
    "Age: {{gen 'age' max_tokens=8 stop='\\n'}}\n"
    "Job: {{gen 'job' max_tokens=8 stop='\\n'}}"
)


def test_passes_and_fed_tokens_of_three_gens_first_and_second_run(smol_llm: Transformers) -> None:
    import guidance_engine as guidance

    llm = Transformers(smol_llm.model, smol_llm.tokenizer)
    program = guidance(THREE_GENS, llm=llm)
    counts = []
    for _ in range(2):
        passes, fed = llm.forward_passes, llm.fed_tokens
        out = program()
        counts.append((llm.forward_passes - passes, llm.fed_tokens - fed))
        assert (out["name"], out["age"], out["job"]) == ("Mara Quill", "34", "Cartographer")
    # Run 1: 5 + 3 + 3 passes. Each gen feeds its unseen prompt and the backed-up ' ' in one
    # pass; ' Mara Quill' takes 4 more, '34' 2 (' ' is re-chosen: no pass for it; it took one
    # before), ' Cartographer' 2 (the '\n' that stops a gen is never fed). Run 2 finds run 1's
    # tokens in the cross-run prefix cache: as many passes (the logits after each prompt are not
    # kept), but 18 tokens fed instead of 85.
    assert counts == [(11, 85), (11, 18)]
