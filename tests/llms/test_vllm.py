"""guidance.llms.OpenAI against a real vLLM server on 127.0.0.1 (CPU build, the converted
SmolLM2 in float32), through the recording fault proxy.

The server is started once per session (`vllm_server` in tests/conftest.py). Sampled tests batch
their samples (`n`, concurrent programs) so the whole file stays short on one CPU thread.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import re
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.runtime.events import ModelCallRecord

from .conftest import run_count_template


def _llm(url: str, **kwargs: Any) -> Any:
    return guidance.llms.OpenAI("smollm2", api_type="vllm", base_url=url, caching=False,
                                **kwargs)


def test_the_converted_model_loads_identically_in_vllm_and_transformers(
    vllm_server: Any, smol_llm: Any
) -> None:
    """Same checkpoint, same greedy continuation (a checkpoint without the tied embedding
    under its standard name would give vLLM random embeddings and garbage here)."""
    import torch

    prompt = "The three primary colors are"
    ids = smol_llm.tokenizer(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        out = smol_llm.model.generate(ids, max_new_tokens=24, do_sample=False,
                                      pad_token_id=smol_llm.pad_id)
    expected = smol_llm.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    client = _llm(vllm_server.base_url).client(asynchronous=False)
    answer = client.completions.create(model="smollm2", prompt=prompt, max_tokens=24,
                                       temperature=0.0)
    assert answer.choices[0].text == expected
    assert len(expected) > 40


def _calls(out: Any) -> list[ModelCallRecord]:
    return [r for r in out.log if isinstance(r, ModelCallRecord)]


_SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
           "additionalProperties": False}
_GRAMMAR = 'start: color (", " color)?\ncolor: "red" | "green" | "blue"'
_SAMPLED = {  # kind: (template with 50 samples at temperature 1.0, one value's check)
    "pattern": ("Phone: {{gen 'v' pattern='[0-9]{3}-[0-9]{4}' n=50 temperature=1.0 "
                "max_tokens=12}}", lambda v: re.fullmatch(r"[0-9]{3}-[0-9]{4}", v)),
    "json_schema": ("A JSON answer: {{gen 'v' json_schema=schema n=50 temperature=1.0 "
                    "max_tokens=40}}", lambda v: list(json.loads(v)) == ["ok"]),
    "grammar": ("Colors: {{gen 'v' grammar=g n=50 temperature=1.0 max_tokens=8}}",
                lambda v: re.fullmatch(r"(red|green|blue)(, (red|green|blue))?", v)),
}


@pytest.mark.parametrize("kind", sorted(_SAMPLED))
def test_each_constraint_kind_is_enforced_by_the_server(vllm_proxy: Any, kind: str) -> None:
    """50 samples at temperature 1.0 in one request (n=50): the server must constrain every
    one, or the client-side check raises ConstraintError."""
    template, check = _SAMPLED[kind]
    out = guidance(template, llm=_llm(vllm_proxy.base_url))(schema=_SCHEMA, g=_GRAMMAR)
    assert len(out["v"]) == 50 and all(check(v) for v in out["v"])
    (request,) = vllm_proxy.requests
    assert request.body["n"] == 50 and request.body["temperature"] == 1.0
    assert set(request.body["structured_outputs"]) == {
        "pattern": {"regex"}, "json_schema": {"json"}, "grammar": {"grammar"}}[kind]
    assert not [k for k in request.body if k.startswith("guided_")]


def test_a_choice_is_enforced_by_the_server_and_json_goes_as_response_format_on_chat(
    vllm_proxy: Any,
) -> None:
    options = [" tea", " coffee", " water", " juice"]
    llm = _llm(vllm_proxy.base_url, select_method="constraint")
    program = guidance("Drink {{i}}:{{select 'd' options=options temperature=1.0}}", llm=llm,
                       async_mode=True)

    async def fifty() -> list[Any]:  # 50 programs at once: the server batches them
        return list(await asyncio.gather(*(program(i=i, options=options) for i in range(50))))

    outs = asyncio.run(fifty())
    assert [o["i"] for o in outs] == list(range(50))
    assert {o["d"] for o in outs} <= set(options)
    assert all(r.body["structured_outputs"] == {"choice": options} for r in vllm_proxy.requests)
    chat = _llm(vllm_proxy.base_url, chat_mode=True)
    out = guidance("{{#user}}Is water wet? Answer in JSON.{{/user}}{{#assistant}}"
                   "{{gen 'v' json_schema=schema n=10 temperature=1.0 max_tokens=40}}"
                   "{{/assistant}}", llm=chat)(schema=_SCHEMA)
    assert all(list(json.loads(v)) == ["ok"] for v in out["v"])
    assert vllm_proxy.requests[-1].body["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "value", "schema": _SCHEMA}}


def _exact_logprobs(smol_llm: Any, prompt: str, options: list[str]) -> dict[str, float]:
    """log P(option | prompt) from transformers, normalised over the options."""
    import torch

    tok, scores = smol_llm.tokenizer, {}
    base = tok(prompt).input_ids
    for option in options:
        ids = torch.tensor([base + tok(option).input_ids])
        with torch.no_grad():
            logits = smol_llm.model(ids).logits[0].log_softmax(-1)
        scores[option] = sum(float(logits[i - 1, ids[0, i]]) for i in range(len(base),
                                                                          ids.shape[1]))
    total = math.log(sum(math.exp(v) for v in scores.values()))
    return {o: v - total for o, v in scores.items()}


def test_select_is_exact_from_prompt_logprobs_in_one_batched_request(
    vllm_proxy: Any, smol_llm: Any
) -> None:
    options = [" yes", " no", " maybe not"]
    out = guidance("Is the sky blue? Answer:{{select 'a' options=options logprobs='lp'}}",
                   llm=_llm(vllm_proxy.base_url), log=True)(options=options)
    (call,) = _calls(out)
    assert (call.result.method, call.result.exact) == ("prompt_logprobs", True)
    (request,) = vllm_proxy.requests
    assert request.body["prompt"] == [f"Is the sky blue? Answer:{o}" for o in options]
    assert request.body["prompt_logprobs"] == 0
    expected = _exact_logprobs(smol_llm, "Is the sky blue? Answer:", options)
    assert all(abs(out["lp"][o] - expected[o]) < 1e-3 for o in options)
    assert out["a"] == max(expected, key=expected.get)
    # chat: one request per option, each continuing the assistant's message
    chat = _llm(vllm_proxy.base_url, chat_mode=True)
    out = guidance("{{#user}}Is the sky blue?{{/user}}{{#assistant}}{{select 'a' "
                   "options=['Yes', 'No'] logprobs='lp'}}{{/assistant}}", llm=chat, log=True)()
    (call,) = _calls(out)
    assert (call.result.method, call.result.exact) == ("prompt_logprobs", True)
    assert out["a"] == max(out["lp"], key=out["lp"].get)
    bodies = [r.body for r in vllm_proxy.requests[1:]]
    # sent together: the proxy may see them in either order
    assert sorted(b["messages"][-1]["content"] for b in bodies) == ["No", "Yes"]
    assert all(b["messages"][-1]["role"] == "assistant" for b in bodies)
    assert all(b["continue_final_message"] and b["prompt_logprobs"] == 0 for b in bodies)


def test_an_option_that_straddles_the_prompt_seam_falls_back_to_the_walk(
    vllm_proxy: Any,
) -> None:
    """After a trailing space the tokenizer joins it to the option (" yes"), so no prompt
    token sequence spells "yes" alone: the top-logprobs walk scores it instead."""
    out = guidance("Is the sky blue? Answer: {{select 'a' options=['yes', 'no']}}",
                   llm=_llm(vllm_proxy.base_url), log=True)()
    (call,) = _calls(out)
    assert call.result.method != "prompt_logprobs"  # the walk, then (auto) the constraint
    assert "prompt_logprobs" in vllm_proxy.requests[0].body
    assert all("prompt_logprobs" not in r.body for r in vllm_proxy.requests[1:])


def test_completion_gen_streams_with_stops_logprobs_and_native_seeded_n(vllm_proxy: Any) -> None:
    llm = _llm(vllm_proxy.base_url)
    out, _ = run_count_template(llm, vllm_proxy)
    stats = _calls(out)[1].result.stats
    assert stats.prompt_tokens > 10 and stats.sampled_tokens > 0
    runs = [r.headers["x-session-id"] for r in vllm_proxy.requests]  # for routers' affinity
    assert runs[0] == runs[1] != runs[2] == runs[3] and len(runs) == 4
    vllm_proxy.requests.clear()
    sampled = guidance("Name:{{gen 'names' n=3 temperature=1.0 seed=7 max_tokens=4}}", llm=llm)
    first_names, second_names = sampled()["names"], sampled()["names"]
    assert len(first_names) == 3 and first_names == second_names
    assert [(r.body["n"], r.body["seed"]) for r in vllm_proxy.requests] == [(3, 7), (3, 7)]


def test_chat_with_a_prefill_the_server_continues(vllm_proxy: Any) -> None:
    llm = _llm(vllm_proxy.base_url, chat_mode=True)
    out = guidance("""{{#system}}You are a terse assistant.{{/system}}
{{#user}}What is the capital of France?{{/user}}
{{#assistant}}{{gen 'answer' max_tokens=12 temperature=0}}{{/assistant}}
{{#user}}And its population?{{/user}}
{{#assistant}}About{{gen 'pop' max_tokens=6}}{{/assistant}}""", llm=llm)()
    assert "Paris" in out["answer"]
    second = vllm_proxy.requests[1].body
    assert second["messages"][-1] == {"role": "assistant", "content": "About"}
    assert (second["continue_final_message"], second["add_generation_prompt"]) == (True, False)
    assert not out["pop"].startswith("About") and out["pop"].strip()


def test_run_two_of_a_long_preamble_reuses_the_prefix_cache(vllm_proxy: Any) -> None:
    preamble = "".join(f"Shelf {i} of the archive holds letters from year {1800 + i}.\n"
                       for i in range(12))
    program = guidance(preamble + "The archive has{{gen 'x' max_tokens=3 temperature=0}}",
                       llm=_llm(vllm_proxy.base_url), log=True)
    first, second = (_calls(program(log=True))[0].result.stats for _ in range(2))
    assert first.prompt_tokens == second.prompt_tokens > 150
    assert second.reused_tokens >= 128 and second.reused_tokens > first.reused_tokens


def test_api_type_is_detected_from_the_server(vllm_proxy: Any, llamacpp_server: Any,
                                              caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="guidance_engine"):
        vllm = guidance.llms.OpenAI("smollm2", api_base=vllm_proxy.base_url)
        llama = guidance.llms.OpenAI("smollm2", api_base=llamacpp_server.base_url)
    assert (vllm.api_type, llama.api_type) == ("vllm", "llamacpp")
    assert [r.getMessage() for r in caplog.records] == [
        f"guidance_engine: {vllm_proxy.base_url} is a vLLM 0.32.0 server (api_type='vllm')",
        f"guidance_engine: {llamacpp_server.base_url} is a llama.cpp server "
        f"(api_type='llamacpp')"]
    out = guidance("Phone: {{gen 'p' pattern='[0-9]{3}-[0-9]{4}'}}", llm=vllm)()
    assert re.fullmatch(r"[0-9]{3}-[0-9]{4}", out["p"])


def test_retried_faults_show_each_piece_of_text_once(vllm_proxy: Any) -> None:
    template = "The capital of France is{{gen 'city' max_tokens=12 stop='\\n'}}"
    clean = guidance(template, llm=_llm(vllm_proxy.base_url))()
    vllm_proxy.requests.clear()
    vllm_proxy.fault("status", status=429, headers={"Retry-After": "0"})
    vllm_proxy.fault("status", status=503)
    vllm_proxy.fault("cut", after=3)
    vllm_proxy.fault("malformed", after=2)
    chunks = [p.text for p in guidance(template, llm=_llm(vllm_proxy.base_url))(stream=True)]
    assert chunks[-1] == clean.text and len(vllm_proxy.requests) == 5
    assert all(b.startswith(a) for a, b in itertools.pairwise(chunks))
