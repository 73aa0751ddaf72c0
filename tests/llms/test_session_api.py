"""0.0.64's low-level API: `with llm.session() as s: s(prompt, ...)`, the asynchronous form, and
`llm(prompt)`, returning the OpenAI-style completion dict."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.llms.base import GenRequest
from guidance_engine.llms.mock import Mock


def test_a_session_is_a_context_manager_returning_completion_dicts() -> None:
    llm = Mock(["Bob", "Ann"])
    with llm.session() as s:
        first = s("Name:", max_tokens=5, stop="\n")
        second = s("Other:", n=1)
    assert first == {
        "choices": [{"index": 0, "text": "Bob", "finish_reason": "stop", "stop_text": None,
                     "logprobs": None}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0},
    }
    assert second["choices"][0]["text"] == "Ann"
    request = llm.calls[0]
    assert isinstance(request, GenRequest)
    assert (request.prompt, request.max_tokens, request.stop) == ("Name:", 5, ("\n",))
    assert llm.calls[1].max_tokens == 1000  # type: ignore[union-attr]  # 0.0.64's default


def test_asynchronous_sessions_return_awaitables() -> None:
    llm = Mock("Bob")

    async def main() -> Any:
        async with llm.session(asynchronous=True) as s:
            return await s("Name:", max_tokens=3)

    assert asyncio.run(main())["choices"][0]["text"] == "Bob"
    with llm.session(asynchronous=True) as s:
        pending = s("Name:")
        assert asyncio.iscoroutine(pending)
        assert asyncio.run(pending)["choices"][0]["text"] == "Bob"


def test_a_synchronous_session_works_inside_a_running_event_loop() -> None:
    llm = Mock("Bob")

    async def notebook_cell() -> str:
        with llm.session() as s:  # Jupyter runs cells inside a loop
            text: str = s("Name:")["choices"][0]["text"]
            return text

    assert asyncio.run(notebook_cell()) == "Bob"


def test_calling_the_model_directly() -> None:
    llm = Mock("Bob")
    assert llm("Name:", max_tokens=2)["choices"][0]["text"] == "Bob"
    assert asyncio.run(llm("Name:", asynchronous=True))["choices"][0]["text"] == "Bob"


def test_unknown_keywords_are_refused_with_a_did_you_mean() -> None:
    with Mock("x").session() as s:
        with pytest.raises(guidance.GuidanceError) as info:
            s("Name:", max_token=5)
        assert str(info.value) == (
            "unknown keyword argument 'max_token' to the session call; did you mean "
            "'max_tokens'?")
        assert s("Name:", top_k=5, caching=False)["choices"][0]["text"] == "x"


def test_a_real_model_session_serves_several_calls(local_llm: Any) -> None:
    """0.0.64's session call on each local backend (`Transformers()`, `LlamaCpp()`)."""
    with local_llm.session() as s:
        first = s("The capital of France is", max_tokens=3)
        again = s("The capital of France is", max_tokens=3, logprobs=2)
    assert first["choices"][0]["text"] == again["choices"][0]["text"]
    assert first["choices"][0]["finish_reason"] == "length"
    # the count includes a token that re-produces a healed prompt end, when healing backs up
    assert first["usage"]["completion_tokens"] >= 3
    logprobs = again["choices"][0]["logprobs"]
    assert len(logprobs["tokens"]) == 3 and len(logprobs["top_logprobs"][0]) == 2
