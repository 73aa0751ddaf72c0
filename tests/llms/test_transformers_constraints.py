"""Constraints on the real model: healing composes with patterns, fast-forward, incomplete values.

The constraint engine itself (guidance_engine.constraints) has its own tests; these check the
backend's use of it: masks applied in the loop, forced tokens fed in one pass, errors raised.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import jsonschema
import pytest

from guidance_engine.errors import ConstraintError, IncompleteOutputError
from guidance_engine.llms.base import GenRequest, GenResult
from guidance_engine.llms.transformers import Transformers

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def gen(llm: Transformers, prompt: str, **kwargs: Any) -> GenResult:
    return asyncio.run(llm.session().gen(GenRequest(prompt, **kwargs)))


def test_healing_composes_with_a_pattern(smol_llm: Transformers) -> None:
    result = gen(smol_llm, 'The link is <a href="http:', pattern=r"//[a-z]+\.com", stop=('"',),
                 max_tokens=12)
    assert result.stats.healed_tokens == 1  # ':' was backed up and re-produced
    assert re.fullmatch(r"//[a-z]+\.com", result.texts[0])
    assert (result.texts, result.stop_texts, result.finish_reasons) == (
        ("//www.com",), ('"',), ("stop",)
    )


def test_json_schema_output_validates_and_fast_forwards(smol_llm: Transformers) -> None:
    result = gen(smol_llm, "Person: ", json_schema=PERSON, max_tokens=40)
    jsonschema.validate(json.loads(result.texts[0]), PERSON)
    stats = result.stats
    assert stats.forced_tokens > 0
    # One pass per sampled token (the first is the prompt prefill); forced tokens are fed
    # along with the sampled token before them and never get a pass of their own.
    assert stats.forward_passes == stats.sampled_tokens


def test_pattern_with_stop(smol_llm: Transformers) -> None:
    result = gen(smol_llm, "Answer yes or no: is the sky blue? Answer:", pattern="(yes|no)",
                 stop=("\n",), max_tokens=5)
    assert result.texts[0] in ("yes", "no")


def test_incomplete_value_raises_unless_partial_allowed(smol_llm: Transformers) -> None:
    with pytest.raises(IncompleteOutputError) as err:
        gen(smol_llm, "Pin: ", pattern="[0-9]{40}", max_tokens=3, name="pin")
    partial = err.value.message.split("partial output: ")[1].split(" (pass")[0]
    assert err.value.message == (
        f"gen 'pin' stopped (max_tokens) before its pattern '[0-9]{{40}}' was complete; "
        f"partial output: {partial} (pass allow_partial=True to keep the partial value)"
    )
    kept = gen(smol_llm, "Pin: ", pattern="[0-9]{40}", max_tokens=3, allow_partial=True)
    assert repr(kept.texts[0]) == partial
    assert re.fullmatch("[0-9]+", kept.texts[0])


def test_unsupported_pattern_is_rejected_before_any_model_call(smol_llm: Transformers) -> None:
    passes = smol_llm.forward_passes
    with pytest.raises(ConstraintError) as err:
        gen(smol_llm, "x", pattern="(?=a)b")
    assert err.value.message.startswith("pattern '(?=a)b' is not supported: look-around")
    assert smol_llm.forward_passes == passes


def test_pattern_that_also_matches_the_stop_text_ends_at_the_first_stop(
    smol_llm: Transformers,
) -> None:
    result = gen(smol_llm, "The capital of France is", pattern="[A-Za-z ,.]+", stop=(".",),
                 max_tokens=10)
    assert (result.texts, result.stop_texts) == ((" Paris",), (".",))
