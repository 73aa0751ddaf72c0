"""Each backend's `Capabilities` against what it really does, and the one up-front refusal of a
request that asks for more (`LLM.validate_request`, the same message on every backend).

The Mock and the OpenAI tables need no model; Transformers runs the default model; the OpenAI
backend is checked against the real llama.cpp and vLLM servers (through the recording proxy,
which shows how many requests a call made and what they carried).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.constraints.dialects import DIALECTS
from guidance_engine.errors import ConstraintError
from guidance_engine.llms.base import LLM, GenRequest, GenResult, SelectRequest, SelectResult
from guidance_engine.llms.capabilities import ALL_KINDS, Capabilities
from guidance_engine.llms.openai_profiles import PROFILES
from guidance_engine.runtime.events import ModelCallRecord

_NOWHERE = "http://127.0.0.1:9/v1"  # port 9 (discard): any request would fail loudly


def _server(api_type: str, chat: bool = False, **kwargs: Any) -> Any:
    return guidance.llms.OpenAI("m", api_type=api_type, api_key="k", base_url=_NOWHERE,
                                chat_mode=chat, caching=False, api_version="2024-06-01",
                                **kwargs)


def _call(llm: LLM, request: GenRequest | SelectRequest) -> Any:
    """One gen or select on a fresh session of `llm`."""
    async def run() -> Any:
        session = llm.session()
        try:
            if isinstance(request, SelectRequest):
                return await session.select(request)
            return await session.gen(request)
        finally:
            session.close()

    return asyncio.run(run())


def _gen(llm: LLM, request: GenRequest) -> GenResult:
    result: GenResult = _call(llm, request)
    return result


def _select(llm: LLM, request: SelectRequest) -> SelectResult:
    result: SelectResult = _call(llm, request)
    return result


def _refusal(llm: LLM, template: str) -> str:
    with pytest.raises(ConstraintError) as info:
        guidance(template, llm=llm)()
    assert info.value.span is not None  # placed at the gen
    return info.value.message


# -- the data ----------------------------------------------------------------------------------


def test_the_mock_takes_what_a_local_model_takes_and_keeps_no_kv_cache() -> None:
    llm = guidance.llms.Mock("42")
    caps = llm.capabilities
    assert (caps.roles, caps.chat_api, caps.prefill, caps.native_n, caps.exact_select) == (
        True, False, True, True, True)
    assert (caps.constraint_kinds, caps.healing, caps.kv_reuse) == (ALL_KINDS, True, False)
    out = guidance("{{#assistant}}A: {{gen 'a' pattern='[0-9]+' token_healing=True n=3 "
                   "logprobs=99}}{{/assistant}}", llm=llm)()
    assert out["a"] == ["42"] * 3 and len(llm.calls) == 1  # n samples from one call
    assert _select(llm, SelectRequest("Q", ("1", "42"))).exact


@pytest.mark.parametrize("api_type", sorted(PROFILES))
def test_a_servers_capabilities_come_from_its_profile_and_dialect(api_type: str) -> None:
    profile = PROFILES[api_type]
    chat = _server(api_type, chat=True).capabilities
    assert chat.constraint_kinds == DIALECTS[api_type] | {"stop_regex"}
    assert (chat.chat_api, chat.prefill, chat.top_logprobs, chat.server_stops) == (
        True, profile.prefill, profile.top_logprobs, profile.max_stops)
    assert (chat.native_n, chat.healing, chat.logits, chat.dialect) == (
        profile.native_n, False, False, api_type)
    completion = _server(api_type).capabilities
    assert not completion.chat_api and completion.prefill
    assert completion.roles == (api_type == "llamacpp")  # only llama.cpp reports its template
    if profile.constraints_need_chat:
        assert completion.constraint_kinds == {"stop_regex"}


def test_chat_mode_sets_the_capability_and_the_endpoint() -> None:
    llm = _server("vllm")
    assert llm.chat_mode is False and llm.capabilities.chat_api is False
    llm.chat_mode = True
    assert llm.capabilities.chat_api is True
    assert _server("vllm", select_method="constraint").capabilities.exact_select is False
    assert _server("llamacpp", prompt_cache=False).capabilities.kv_reuse is False


# -- the refusals: one message per option, naming the backend --------------------------------


@pytest.mark.parametrize(("llm", "template", "message"), [
    (_server("openai", chat=True),
     "{{#user}}Q{{/user}}{{#assistant}}{{gen 'a' logprobs=21}}{{/assistant}}",
     "logprobs=21 asks for more alternatives per token than an api_type='openai' server gives "
     "(at most 20)"),
    (_server("openai"), "Q: {{gen 'a' logprobs=6}}",
     "logprobs=6 asks for more alternatives per token than an api_type='openai' server gives "
     "(at most 5)"),
    (_server("llamacpp"), "Q: {{gen 'a' token_healing=True}}",
     "token_healing=True cannot be honoured by an api_type='llamacpp' server, which does no "
     "token healing; leave token_healing out"),
    (_server("azure"), "Q: {{gen 'a' json_schema=schema}}",
     "json_schema= cannot be sent to an api_type='azure' server: it enforces only stop_regex=; "
     "api_type='azure' takes constraints on the chat endpoint only (response_format) and this "
     "model runs in completion mode (chat_mode=False); pass chat_mode=True, or use a server "
     "with that constraint (llama.cpp or vLLM take pattern=, json_schema= and grammar=) or a "
     "local model"),
])
def test_a_request_beyond_the_capabilities_is_refused_before_any_call(
    llm: LLM, template: str, message: str
) -> None:
    with pytest.raises(ConstraintError) as info:
        guidance(template, llm=llm)(schema={"type": "integer"})
    assert info.value.message == message and info.value.span is not None


class _Limited(guidance.llms.Mock):
    capabilities = Capabilities("a limited model", max_stops=2, top_logprobs=3, healing=False,
                                constraint_kinds=frozenset({"pattern"}))


@pytest.mark.parametrize(("template", "message"), [
    ("{{gen 'a' stop=['x', 'y', 'z']}}", "stop= has 3 stop strings but a limited model takes "
                                         "at most 2"),
    ("{{gen 'a' stop_regex='[0-9]'}}", "stop_regex= cannot be sent to a limited model: it "
                                       "enforces only pattern="),
    ("{{gen 'a' grammar='start: \"a\"'}}", "grammar= cannot be sent to a limited model: it "
                                           "enforces only pattern="),
])
def test_the_checks_read_only_the_capabilities(template: str, message: str) -> None:
    llm = _Limited("ok")
    assert _refusal(llm, "Q " + template) == message
    assert guidance("Q {{gen 'a' stop=['x', 'y'] logprobs=3 pattern='ok'}}", llm=llm)()["a"] \
        == "ok"
    assert len(llm.calls) == 1  # the refused request never reached the model


def test_the_default_model_is_public() -> None:
    saved = guidance.llm
    try:
        guidance.llm = guidance.llms.Mock("x")
        assert guidance.default_llm() is guidance.llm
        other = guidance.llms.Mock("y")
        assert guidance.default_llm(other) is other
    finally:
        guidance.llm = saved


# -- Transformers: the default model -----------------------------------------------------------


def test_transformers_does_all_it_declares(smol_llm: Any) -> None:
    caps = smol_llm.capabilities
    assert caps == Capabilities("Transformers", kv_reuse=True)
    deep = _gen(smol_llm, GenRequest("The capital of France is", max_tokens=2, logprobs=60,
                                     n=2, temperature=1.0, seed=3, stop=tuple("xyzwv")))
    assert len(deep.texts) == 2 and deep.logprobs is not None
    assert all(len(t.top) == 60 for sample in deep.logprobs for t in sample)
    assert deep.stats.forward_passes <= 3  # both samples in one batch: n is native
    again = _gen(smol_llm, GenRequest("The capital of France is", max_tokens=1))
    assert again.stats.reused_tokens > 0  # kv_reuse: the prefix cache kept the prompt
    select = _select(smol_llm, SelectRequest("Is water wet? Answer:", (" yes", " no")))
    assert select.exact and select.method == "exact" and len(select.logprobs) == 2
    assert math.isclose(sum(math.exp(v) for v in select.logprobs.values()), 1.0, rel_tol=1e-4)


# -- LlamaCpp: the default model's GGUF in this process -------------------------------------


def test_llamacpp_does_all_it_declares(llamacpp_llm: Any) -> None:
    llm = llamacpp_llm
    caps = llm.capabilities
    assert caps == Capabilities("LlamaCpp", max_n=1, logits=False, kv_reuse=True)
    sent = llm.requests
    deep = _gen(llm, GenRequest("The capital of France is", max_tokens=2, logprobs=60, n=2,
                                temperature=1.0, seed=3, token_healing=False))
    assert len(deep.texts) == 2 and deep.logprobs is not None
    assert all(len(t.top) == 60 for sample in deep.logprobs for t in sample)  # any depth
    assert llm.requests - sent == 2  # max_n=1: each sample is a request of its own
    again = _gen(llm, GenRequest("The capital of France is", max_tokens=1, token_healing=False))
    assert again.stats.reused_tokens == again.stats.prompt_tokens - 1  # kv_reuse: the slot
    healed = _gen(llm, GenRequest("The capital of France is ", max_tokens=2, token_healing=True))
    assert healed.stats.healed_tokens == 1 and healed.texts[0].startswith("Paris")
    assert (healed.marks[0].kind, healed.marks[0].backed_up) == ("healed", " ")
    assert caps.constraint_kinds == ALL_KINDS and caps.dialect == "llguidance"
    age = _gen(llm, GenRequest("Mara is 34. Age: ", pattern="[0-9]+", max_tokens=4))
    word = _gen(llm, GenRequest("Is water wet? Answer:", grammar='start: " yes" | " no"'))
    cut = _gen(llm, GenRequest("Count: 1, 2, 3,", max_tokens=8, stop_regex=("[0-9]",)))
    assert age.texts[0].isdigit() and word.texts[0] in (" yes", " no")
    assert cut.texts[0] == " " and cut.stop_texts == ("4",)
    select = _select(llm, SelectRequest("Is water wet? Answer:", (" yes", " no", " maybe")))
    assert select.exact and select.method == "exact" and len(select.logprobs) == 3
    assert math.isclose(sum(math.exp(v) for v in select.logprobs.values()), 1.0, rel_tol=1e-4)


# -- OpenAI on the real servers ----------------------------------------------------------------


def _server_checks(llm: Any, proxy: Any) -> None:
    """What every server's capabilities promise, checked on the server."""
    caps = llm.capabilities
    stops = tuple(f"#{i}#" for i in range(caps.server_stops))
    out = _gen(llm, GenRequest("Count: 1, 2, 3,", max_tokens=2, logprobs=caps.top_logprobs,
                               stop=stops))
    assert out.logprobs is not None and len(out.logprobs[0][0].top) >= caps.top_logprobs
    assert proxy.requests[-1].body["stop"] == list(stops)  # the server cuts at all of them
    cut = _gen(llm, GenRequest("Count: 1, 2, 3,", max_tokens=6, stop=(*stops, ",")))
    assert cut.stop_texts == (",",) and "stop" not in proxy.requests[-1].body  # cut here
    sent = len(proxy.requests)
    for template in (f"Q:{{{{gen 'a' logprobs={caps.top_logprobs + 1}}}}}",
                     "Q:{{gen 'a' token_healing=True}}"):
        assert caps.name in _refusal(llm, template)
    assert len(proxy.requests) == sent  # refused before any request
    two = _gen(llm, GenRequest("Name:", max_tokens=2, n=2, temperature=1.0, seed=1))
    assert len(two.texts) == 2
    assert len(proxy.requests) - sent == (1 if caps.native_n else 2)
    assert proxy.requests[-1].body.get("n") == (2 if caps.native_n else None)


def test_llamacpp_does_what_its_detected_capabilities_say(proxy: Any) -> None:
    llm = guidance.llms.OpenAI("smollm2", api_base=proxy.base_url, caching=False)
    caps = llm.capabilities
    assert (llm.api_type, caps.chat_api, caps.roles, caps.native_n, caps.exact_select) == (
        "llamacpp", False, True, False, False)
    _server_checks(llm, proxy)
    select = _select(llm, SelectRequest("Is water wet? Answer:", (" yes", " no")))
    assert select.method in ("logprobs", "constraint")  # never a full-distribution score
    out = guidance("The archive has many shelves of old letters.{{gen 'x' max_tokens=2}} "
                   "More{{gen 'y' max_tokens=2}}", llm=llm, log=True)()
    calls = [r for r in out.log if isinstance(r, ModelCallRecord)]
    assert calls[1].result.stats.reused_tokens > 0  # kv_reuse: the slot kept the prompt


@pytest.mark.vllm
def test_vllm_does_what_its_detected_capabilities_say(vllm_proxy: Any) -> None:
    llm = guidance.llms.OpenAI("smollm2", api_base=vllm_proxy.base_url, caching=False)
    caps = llm.capabilities
    assert (llm.api_type, caps.native_n, caps.exact_select, caps.kv_reuse) == (
        "vllm", True, True, True)
    _server_checks(llm, vllm_proxy)
    select = _select(llm, SelectRequest("Is water wet? Answer:", (" yes", " no")))
    assert select.exact and select.method == "prompt_logprobs"
    llm.chat_mode = True  # the chat endpoint: role blocks become messages
    assert llm.capabilities == dataclasses.replace(caps, chat_api=True, roles=True)
