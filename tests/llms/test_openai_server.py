"""guidance.llms.OpenAI against a real llama.cpp server on 127.0.0.1 (SmolLM2 GGUF).

Few and sharp: each test runs the 0.0.64-style program a user would write and checks what the
server was sent (through the recording proxy) and what the program captured.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.errors import ConstraintError
from guidance_engine.runtime.events import ModelCallRecord

from .conftest import run_count_template


def _llm(url: str, **kwargs: Any) -> Any:
    return guidance.llms.OpenAI("smollm2", api_type="llamacpp", base_url=url, caching=False,
                                **kwargs)


def _calls(out: Any) -> list[ModelCallRecord]:
    return [r for r in out.log if isinstance(r, ModelCallRecord)]


def test_completion_gen_streams_with_stops_logprobs_and_usage(proxy: Any) -> None:
    out, first = run_count_template(_llm(proxy.base_url), proxy)
    assert first["max_tokens"] == 8 and first["cache_prompt"] is True
    assert proxy.requests[-1].body["id_slot"] == first["id_slot"]  # one session, one slot
    stats = _calls(out)[1].result.stats
    assert stats.prompt_tokens > 10 and stats.sampled_tokens > 0
    assert stats.reused_tokens > 0  # llama.cpp reused the first request's prompt


def test_classic_chat_program_sends_messages(proxy: Any) -> None:
    llm = _llm(proxy.base_url, chat_mode=True)
    out = guidance("""{{#system}}You are a terse assistant.{{/system}}
{{#user}}What is the capital of {{country}}?{{/user}}
{{#assistant}}{{gen 'answer' max_tokens=12 temperature=0}}{{/assistant}}
{{#user}}And its population?{{/user}}
{{#assistant}}About{{gen 'pop' max_tokens=6}}{{/assistant}}""", llm=llm)(country="France")
    assert "Paris" in out["answer"]
    first, second = (r.body for r in proxy.requests)
    assert first["messages"] == [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "What is the capital of France?"}]
    assert second["messages"][2:] == [
        {"role": "assistant", "content": out["answer"]},
        {"role": "user", "content": "And its population?"},
        {"role": "assistant", "content": "About"}]  # a prefill the server continues
    assert not out["pop"].startswith("About")  # the echoed prefill is not part of the value
    assert str(out).endswith(f"<|im_start|>assistant\nAbout{out['pop']}<|im_end|>")


def test_select_by_logprobs_and_by_constraint(proxy: Any) -> None:
    template = "Is the sky blue? Answer:{{select 'a' options=[' yes', ' no'] logprobs='lp'}}"
    out = guidance(template, llm=_llm(proxy.base_url), log=True)()
    (call,) = _calls(out)
    assert (call.result.method, call.result.exact) == ("logprobs", True)
    assert out["a"] == max(out["lp"], key=out["lp"].get)
    assert abs(sum(2.718281828 ** v for v in out["lp"].values()) - 1) < 1e-6
    assert len(proxy.requests) == 1 and proxy.requests[0].body["max_tokens"] == 1
    # an option no top token leads to: the server's choice constraint decides, no numbers
    out = guidance("Is the sky blue? Answer:{{select 'a' options=[' yes', ' no', "
                   "' xylophonic'] logprobs='lp'}}", llm=_llm(proxy.base_url), log=True)()
    (call,) = _calls(out)
    assert (call.result.method, call.result.exact) == ("constraint", False)
    assert out["lp"] == {" yes": None, " no": None, " xylophonic": None}
    grammar = proxy.requests[-1].body["grammar"]
    assert grammar == '%llguidance {}\nstart: " yes" | " no" | " xylophonic"'


def test_constraints_are_pushed_to_the_server_and_checked(proxy: Any) -> None:
    llm = _llm(proxy.base_url)
    schema = {"type": "object", "properties": {"name": {"type": "string"}},
              "required": ["name"], "additionalProperties": False}
    out = guidance("Phone: {{gen 'p' pattern='[0-9]{3}-[0-9]{4}'}}\nPerson: "
                   "{{gen 'j' json_schema=schema max_tokens=30}}\nSum: "
                   "{{gen 's' grammar='arithmetic' max_tokens=12}}", llm=llm)(schema=schema)
    bodies = [r.body for r in proxy.requests]
    assert bodies[0]["grammar"] == "%llguidance {}\nstart: /[0-9]{3}-[0-9]{4}/"
    assert bodies[1]["json_schema"] == schema
    assert bodies[2]["grammar"].startswith("%llguidance {}\n")
    assert len(out["p"]) == 8 and out["p"][3] == "-"
    assert list(json.loads(out["j"])) == ["name"]
    # the server's answer is checked client-side: here the proxy strips the constraint
    proxy.fault("strip")
    expected = "the server returned a value that does not satisfy pattern '[0-9]{3}-[0-9]{4}'"
    with pytest.raises(ConstraintError, match=re.escape(expected)) as info:
        guidance("Phone: {{gen 'p' pattern='[0-9]{3}-[0-9]{4}' max_tokens=4}}", llm=llm)()
    assert info.value.span is not None and info.value.span.column == 10


def test_n_samples_fall_back_to_concurrent_requests_and_seed_repeats(proxy: Any) -> None:
    llm = _llm(proxy.base_url)
    program = guidance("Name:{{gen 'names' n=3 temperature=1.0 seed=7 max_tokens=4}}", llm=llm)
    first, second = program()["names"], program()["names"]
    assert len(first) == 3 and first == second  # seeded sampling is reproducible
    assert len(proxy.requests) == 6 and all("n" not in r.body for r in proxy.requests)
    assert sorted(r.body["seed"] for r in proxy.requests[:3]) == [7, 8, 9]


def test_a_cached_rerun_makes_no_request(proxy: Any, tmp_path: Any,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from guidance_engine.llms import cache_store

    monkeypatch.setattr(cache_store, "DEFAULT", cache_store.GenerationCache(tmp_path))
    llm = guidance.llms.OpenAI("smollm2", api_type="llamacpp", base_url=proxy.base_url)
    program = guidance("Q: 2+2=?\nA:{{gen 'a' max_tokens=4 stop='\\n'}}", llm=llm)
    first = program()
    assert len(proxy.requests) == 1
    chunks = [p.text for p in program(stream=True)]
    assert len(proxy.requests) == 1 and chunks[-1] == first.text  # no request, same stream
    assert guidance.llms.OpenAI.cache.clear() == 1
    program()
    assert len(proxy.requests) == 2
