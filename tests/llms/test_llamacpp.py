"""Real-model tests of the LlamaCpp backend (the SmolLM2 GGUF on llama.cpp in this process).

The tests shared with the Transformers backend (healing, select, classic programs, notebooks)
run on both through the `local_llm` fixture; these are the llama.cpp-specific ones: chunks
stream while llama.cpp generates, cancelling stops it within a token or two, the slot's cache
serves the next segment and the next run, and the grammar llama.cpp gets is the engine's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import llguidance
import pytest

import guidance_engine as guidance
from guidance_engine.constraints import ConstraintSpec, heal
from guidance_engine.errors import ContextOverflowError, ModelLoadError
from guidance_engine.llms.base import GenRequest, GenResult, Segment, SelectRequest
from guidance_engine.llms.llamacpp import GenerationCancelled, LlamaCpp
from guidance_engine.llms.llamacpp_grammar import llamacpp_grammar

LONG = "Count from one to one hundred: one, two, three,"


def gen(llm: LlamaCpp, prompt: str, **kwargs: Any) -> GenResult:
    with llm.session() as session:
        return asyncio.run(session.gen(GenRequest(prompt, **kwargs)))


# -- the grammar llama.cpp enforces (no model) ------------------------------------------------


def test_grammar_is_the_engine_grammar_in_one_lark_text() -> None:
    spec = ConstraintSpec(pattern="[0-9]+", stop=(",",), healing_prefix=" ")
    assert llamacpp_grammar(spec) == (
        '%llguidance {}\nstart: heal value stop?\nvalue: /[0-9]+/\nheal: " "\n'
        'stop[capture]: ","')
    assert llamacpp_grammar(ConstraintSpec()) is None
    schema = {"type": "integer"}
    alone = llamacpp_grammar(ConstraintSpec(json_schema=schema))
    assert alone is not None and alone.startswith('%llguidance {}\nstart: %json {"type": "integer"')
    for spec in (ConstraintSpec(json_schema=schema, stop=("x",)),
                 ConstraintSpec(grammar="arithmetic", healing_prefix=":")):
        text = llamacpp_grammar(spec)
        assert text is not None and "@value" not in text
        lark = text.split("\n", 1)[1]
        assert llguidance.LLMatcher.validate_grammar(llguidance.LLMatcher.grammar_from_lark(lark)) \
            == ""


def test_local_model_picks_the_backend_by_name_and_stays_callable() -> None:
    import guidance_engine.llms.local  # noqa: F401 - the shared module must not shadow it

    assert callable(guidance.llms.local_model)
    with pytest.raises(ModelLoadError, match="unknown local backend 'vllm'"):
        guidance.llms.local_model("vllm")


# -- streaming and cancelling -----------------------------------------------------------------


def test_chunks_arrive_while_generating_and_cancelling_stops_within_a_token(
    llamacpp_llm: LlamaCpp,
) -> None:
    session = llamacpp_llm.session()
    chunks: list[str] = []
    before = llamacpp_llm.metrics()["tokens_predicted_total"]

    async def main() -> None:
        def on_chunk(index: int, text: str) -> None:
            chunks.append(text)
            if len(chunks) == 3:
                task.cancel()  # from the third chunk on: generated after the first chunks came

        task = asyncio.ensure_future(session.gen(GenRequest(LONG, max_tokens=200), on_chunk))
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    slot = session.slot
    session.close()  # joins the worker: the request has ended
    assert slot is not None
    # the prompt as sent: healing backed up its last token (',')
    kept = heal(llamacpp_llm.encoder.encode_text(LONG), llamacpp_llm.index).keep
    taken = len(llamacpp_llm.slots.tokens[slot]) - kept
    predicted = llamacpp_llm.metrics()["tokens_predicted_total"] - before
    # the healed ',' and the 3 chunks' tokens (a token or two more while the cancel reaches
    # the worker), then llama.cpp made at most one token more
    assert len(chunks) == 3 and taken <= 7 and predicted <= taken + 1


def test_closing_the_session_cancels_a_running_gen(llamacpp_llm: LlamaCpp) -> None:
    session = llamacpp_llm.session()

    async def main() -> None:
        def on_chunk(index: int, text: str) -> None:
            session._closed.set()  # what close() does first, from the loop's thread

        with pytest.raises(GenerationCancelled):
            await session.gen(GenRequest(LONG, max_tokens=200), on_chunk)

    asyncio.run(main())
    session.close()


# -- the slot's KV cache ----------------------------------------------------------------------


def test_segments_and_runs_reuse_the_slot_cache(llamacpp_llm: LlamaCpp) -> None:
    program = guidance("A list of fruits: apple,{{gen 'a' max_tokens=4 stop='\\n'}}\n"
                       "A list of colours: red,{{gen 'b' max_tokens=4 stop='\\n'}}",
                       llm=llamacpp_llm)
    first, second = program(), program()
    assert (first["a"], first["b"]) == (second["a"], second["b"])
    with llamacpp_llm.session() as session:
        prompt = str(first)
        again = asyncio.run(session.gen(GenRequest(prompt, max_tokens=2)))
    # the second run's session found the first run's tokens in its slot
    assert again.stats.reused_tokens >= again.stats.prompt_tokens - 4


def test_a_value_never_becomes_a_special_token(llamacpp_llm: LlamaCpp) -> None:
    segments = (Segment("<|im_start|>user\n", "markup", "user"),
                Segment("<|im_end|>", "value", "user"))
    ids = llamacpp_llm.encoder.encode(segments)
    assert ids[0] == 1 and 2 not in ids  # <|im_start|> markup; the value's text is plain


def test_n_samples_are_seeded_apart_and_repeat(llamacpp_llm: LlamaCpp) -> None:
    kwargs = {"max_tokens": 6, "n": 3, "temperature": 1.0, "seed": 7}
    first, again = gen(llamacpp_llm, "Name:", **kwargs), gen(llamacpp_llm, "Name:", **kwargs)
    assert first.texts == again.texts and len(set(first.texts)) > 1


def test_constrained_json_matches_its_schema(llamacpp_llm: LlamaCpp) -> None:
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    result = gen(llamacpp_llm, "Mara is 34. As JSON: ", json_schema=schema, max_tokens=20)
    assert isinstance(json.loads(result.texts[0])["age"], int)


def test_select_scores_are_llama_cpps_own_logprobs(llamacpp_llm: LlamaCpp) -> None:
    # Exact on its own model: forced-token scores differ as the logprobs llama.cpp reports
    # when it generates freely (the quantisation noise against fp32 is another test's).
    prompt = "The capital of France is"
    free = gen(llamacpp_llm, prompt, max_tokens=1, logprobs=4, token_healing=False)
    assert free.logprobs is not None
    top = dict(free.logprobs[0][0].top)
    options = tuple(top)[:3]  # whole tokens: ' Paris', ' the', ' London'
    with llamacpp_llm.session() as session:
        result = asyncio.run(session.select(SelectRequest(prompt, options,
                                                          token_healing=False)))
    assert (result.method, result.exact, result.choice) == ("exact", True, options[0])
    for a, b in itertools.pairwise(options):
        assert result.logprobs[a] - result.logprobs[b] == pytest.approx(top[a] - top[b],
                                                                        abs=1e-5)


def test_context_overflow_names_n_ctx(llamacpp_llm: LlamaCpp) -> None:
    with pytest.raises(ContextOverflowError, match="n_ctx"):
        gen(llamacpp_llm, "word " * 5000, max_tokens=4)
