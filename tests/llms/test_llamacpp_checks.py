"""llama.cpp's own report on a reply, checked: a prompt not read whole or a generation cut by the
context is an error (unit checks, then a real server whose context fills up)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.errors import ModelAPIError
from guidance_engine.llms.llamacpp_checks import check_reply


def test_a_whole_prompt_and_a_reply_ended_by_stop_or_max_tokens_pass() -> None:
    timings = {"cache_n": 4, "prompt_n": 6}
    check_reply({"prompt_tokens": 10, "completion_tokens": 3, "timings": timings}, "stop", 50)
    check_reply({"prompt_tokens": 10, "completion_tokens": 50, "timings": timings}, "length", 50)
    check_reply({}, None, None)  # another server: nothing reported, nothing checked


@pytest.mark.parametrize(("usage", "finish", "message"), [
    ({"prompt_tokens": 900, "truncated": True}, "stop",
     "llama.cpp truncated the prompt (900 tokens) to fit its context; raise the server's n_ctx "
     "or shorten the prompt"),
    ({"prompt_tokens": 900, "timings": {"cache_n": 0, "prompt_n": 512}}, "stop",
     "llama.cpp reused 0 and evaluated 512 of the prompt's 900 tokens: part of the prompt was "
     "dropped or shifted out of the context"),
    ({"prompt_tokens": 401, "completion_tokens": 111}, "length",
     "llama.cpp stopped after 111 of at most 300 tokens because its context is full (401 prompt "
     "+ 111 generated tokens); raise the server's n_ctx (per slot) or shorten the prompt"),
])
def test_a_truncated_shifted_or_context_cut_reply_is_an_error(
        usage: dict[str, Any], finish: str, message: str) -> None:
    with pytest.raises(ModelAPIError) as error:
        check_reply(usage, finish, 300)
    assert str(error.value) == message


@pytest.mark.server
def test_a_generation_cut_by_the_servers_context_raises() -> None:
    from guidance_engine.llms.llamacpp_server import LlamaCppServer

    with LlamaCppServer(n_threads=1, n_ctx=256, alias="smollm2") as server:
        llm = guidance.llms.OpenAI("smollm2", api_type="llamacpp", base_url=server.base_url,
                                   chat_mode=False, caching=False)
        program = guidance("Count: 1 2 3 4 5 6 7 8 9 10{{gen 'n' max_tokens=400}}", llm=llm)
        async def run() -> None:
            await program(async_mode=True)

        with pytest.raises(ModelAPIError) as error:
            asyncio.run(run())
        assert "because its context is full" in str(error.value)
        assert "raise the server's n_ctx (per slot) or shorten the prompt" in str(error.value)
