"""Prompt-lookup drafts: the drafter on its own (`llms/lookup.py`), then the Transformers decode
loop with drafts on vs off on the real model. Drafts only save passes: every output (greedy,
constrained, seeded sampling, logprobs, healed) must equal the one decoded without them, and
the session's cache must still hold exactly its tokens afterwards."""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any

import pytest
import torch

import guidance_engine as guidance
from guidance_engine.llms.base import GenRequest, GenResult
from guidance_engine.llms.lookup import NgramDrafter
from guidance_engine.llms.transformers import Transformers
from guidance_engine.llms.transformers_session import TransformersSession
from guidance_engine.runtime.events import GenChunk

# -- the drafter ----------------------------------------------------------------------------------


def drafter(tokens: list[int], max_n: int = 3, min_n: int = 1) -> NgramDrafter:
    out = NgramDrafter(max_n, min_n)
    out.extend(tokens)
    return out


def test_proposes_what_followed_the_latest_earlier_occurrence() -> None:
    # "1 2" occurred twice before the end: the later one (followed by 7) wins
    assert drafter([1, 2, 3, 4, 1, 2, 7, 8, 9, 1, 2]).propose(3) == [7, 8, 9]
    # k bounds the draft; the sequence's end bounds it too
    assert drafter([1, 2, 3, 4, 1, 2, 7, 8, 9, 1, 2]).propose(1) == [7]
    assert drafter([5, 6, 5]).propose(4) == [6, 5]


def test_the_longest_matching_ngram_beats_a_more_recent_shorter_one() -> None:
    # "8 2 3" occurred at the start (then 4); "3" alone occurred later (then 9)
    assert drafter([8, 2, 3, 4, 0, 3, 9, 8, 2, 3]).propose(2) == [4, 0]
    assert drafter([8, 2, 3, 4, 0, 3, 9, 8, 2, 3], max_n=1).propose(2) == [9, 8]


def test_no_draft_without_an_earlier_occurrence_of_a_long_enough_ngram() -> None:
    assert drafter([1, 2, 3, 4]).propose(3) == []
    assert drafter([]).propose(3) == []
    assert drafter([7, 1, 9, 1], min_n=2).propose(3) == []  # only the 1-gram "1" repeats
    assert drafter([7, 1, 9, 1]).propose(3) == [9, 1]
    assert drafter([1, 1, 1]).propose(0) == []


def test_incremental_extension_indexes_like_one_extension() -> None:
    tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2, 6, 4, 3, 3]
    grown = NgramDrafter()
    for i, token in enumerate(tokens):
        grown.extend([token])
        assert grown.propose(3) == drafter(tokens[: i + 1]).propose(3)
    assert len(grown) == len(tokens)


def test_bad_ngram_bounds_are_refused_with_both_values() -> None:
    with pytest.raises(ValueError, match="found min_n=3, max_n=2"):
        NgramDrafter(max_n=2, min_n=3)


# -- the decode loop on the real model ----------------------------------------------------------

NOTES = ("Ledger of the harbour office.\n"
         "Entry 1: the ship Gull's Wing arrived from Port Amberley with forty barrels of salt.\n"
         "Entry 2: the ship Silver Heron left for Kestrel Bay with twelve crates of wool.\n"
         "Entry 3: the ship Gull's Wing arrived from Port Amberley with forty barrels of salt.\n")
COPY = NOTES + "Entry 4: the ship Silver Heron"


def gen(llm: Transformers, prompt: str, drafts: int, session: TransformersSession | None = None,
        **kwargs: Any) -> GenResult:
    session = session or llm.session()
    extra = {**kwargs.pop("extra", {}), "lookup_tokens": drafts}
    return asyncio.run(session.gen(GenRequest(prompt, extra=extra, **kwargs)))


def on_and_off(llm: Transformers, prompt: str, **kwargs: Any) -> tuple[GenResult, GenResult]:
    return gen(llm, prompt, 3, **kwargs), gen(llm, prompt, 0, **kwargs)


def test_greedy_copy_is_unchanged_and_takes_fewer_passes(smol_llm: Transformers) -> None:
    on, off = on_and_off(smol_llm, COPY, max_tokens=16)
    assert on.texts == off.texts
    assert " Kestrel Bay" in on.texts[0]
    assert (off.stats.drafted_tokens, off.stats.accepted_tokens) == (0, 0)
    assert on.stats.accepted_tokens >= 6
    assert on.stats.forward_passes <= off.stats.forward_passes - on.stats.accepted_tokens


def test_stop_string_and_pattern_end_the_same_value(smol_llm: Transformers) -> None:
    on, off = on_and_off(smol_llm, COPY, max_tokens=30, stop=("crates",))
    assert (on.texts, on.stop_texts) == (off.texts, off.stop_texts) == (
        (" left for Kestrel Bay with twelve ",), ("crates",))
    assert on.stats.accepted_tokens > 0
    pattern = r" [a-z]+ [a-z]+ [A-Z][a-z]+ [A-Z][a-z]+"
    on, off = on_and_off(smol_llm, COPY, pattern=pattern, stop=(" with",), max_tokens=10)
    assert (on.texts, on.stop_texts) == (off.texts, off.stop_texts)
    assert re.fullmatch(pattern, on.texts[0]) and on.texts[0].startswith(" left for Kestrel")
    assert on.stats.accepted_tokens > 0


def test_json_schema_with_fast_forward_and_drafts(smol_llm: Transformers) -> None:
    schema = {"type": "object", "properties": {"ship": {"type": "string"},
                                               "port": {"type": "string"}},
              "required": ["ship", "port"], "additionalProperties": False}
    on, off = on_and_off(smol_llm, NOTES + "Entry 1 as JSON: ", json_schema=schema,
                         max_tokens=30)
    assert on.texts == off.texts
    assert set(json.loads(on.texts[0])) == {"ship", "port"}
    assert on.stats.forced_tokens == off.stats.forced_tokens > 0
    assert on.stats.accepted_tokens > 0
    assert on.stats.forward_passes < off.stats.forward_passes


def test_drafts_the_constraint_refuses_are_not_fed(
    smol_llm: Transformers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After "Crates: 1" the context goes on "2 of wool"; under `[0-9]+` only "2" may be fed."""
    from guidance_engine.llms.transformers_decode import Decoder

    fed: list[list[int]] = []
    real = Decoder._drafts

    def drafts(self: Decoder, row: Any) -> list[int]:
        fed.append(real(self, row))
        return fed[-1]

    monkeypatch.setattr(Decoder, "_drafts", drafts)
    prompt = "Crates: 12 of wool.\nCrates: 12 of wool.\nCrates: 12 of wool.\nCrates:"
    on, off = on_and_off(smol_llm, prompt, pattern=" [0-9]+", max_tokens=6)
    assert on.texts == off.texts
    drafted = [smol_llm.tokenizer.decode([t]) for d in fed for t in d]
    assert drafted and all(re.fullmatch(" ?[0-9]+", text) for text in drafted)


def test_logprobs_and_healing_come_from_the_right_positions(smol_llm: Transformers) -> None:
    # The prompt ends in " the ship Silver He": healing backs up "He", the model re-produces it
    on, off = on_and_off(smol_llm, COPY[:-4], max_tokens=10, logprobs=2)
    assert on.texts == off.texts and on.stats.healed_tokens == 1
    assert on.stats.accepted_tokens > 0
    assert on.logprobs is not None and off.logprobs is not None
    for a, b in zip(on.logprobs[0], off.logprobs[0], strict=True):
        assert (a.token, [t for t, _ in a.top]) == (b.token, [t for t, _ in b.top])
        assert math.isclose(a.logprob, b.logprob, abs_tol=1e-3)


def test_seeded_sampling_draws_the_same_text(smol_llm: Transformers) -> None:
    on, off = on_and_off(smol_llm, COPY, max_tokens=24, temperature=0.8, seed=11)
    assert on.texts == off.texts
    assert on.stats.accepted_tokens > 0


def test_the_cache_holds_its_tokens_after_rejected_drafts(smol_llm: Transformers) -> None:
    session = smol_llm.session()
    first = gen(smol_llm, NOTES + "Entry 4: the ship", 3, session, max_tokens=20)
    assert first.stats.drafted_tokens > first.stats.accepted_tokens > 0  # some were rejected
    assert session.kv.length == len(session.tokens)
    follow = NOTES + "Entry 4: the ship" + first.texts[0] + "\nEntry 5: the ship"
    again = gen(smol_llm, follow, 3, session, max_tokens=12)
    assert again.stats.reused_tokens > len(NOTES) // 8
    assert again.texts == gen(smol_llm, follow, 0, max_tokens=12).texts
    with torch.inference_mode():
        scratch = smol_llm.model(input_ids=torch.tensor([session.tokens])).logits[0, -1]
    assert session.last_logits is not None
    assert torch.allclose(session.last_logits, scratch.float(), atol=1e-3)


def test_closing_stops_within_one_pass_with_drafts_on(
    smol_llm: Transformers, monkeypatch: pytest.MonkeyPatch, close_probe: Any,
) -> None:
    """As the streaming test does without drafts: once the consumer stops, the next pass is
    held until the close has set the session's flag; after it at most that pass runs, and the
    kept cache gives the same answer next time."""
    template = COPY + "{{gen 'n' max_tokens=%d lookup_tokens=3}}"
    reference = guidance(template % 12, llm=smol_llm)()["n"]

    async def main() -> tuple[int, int]:
        stream = guidance(template % 200, llm=smol_llm).events()
        async for event in stream:
            if isinstance(event, GenChunk):
                break
        at_stop = smol_llm.forward_passes
        close_probe.stopping.set()
        await stream.aclose()
        return at_stop, smol_llm.forward_passes

    at_stop, after = asyncio.run(main())
    monkeypatch.undo()
    assert close_probe.held in ([], [True])
    assert after - at_stop <= 1
    assert guidance(template % 12, llm=smol_llm)()["n"] == reference
