"""Exact option scores on vLLM: each option scored as the prompt's continuation.

vLLM returns `prompt_logprobs`, the log-probability of every prompt token given the tokens
before it. Sending `prompt + option` and summing the logprobs of the tokens that spell the
option gives log P(option | prompt) for that tokenization, with no top-k cut. Completion
models get every option in one batched request (`prompt` is a list); chat models get one
request per option (the option as the assistant's begun message), sent together::

    prompt=["Answer: yes", "Answer: no"], max_tokens=1, prompt_logprobs=0
    -> choices[i].prompt_logprobs = [None, {42: {"logprob": -6.5, "decoded_token": ":"}}, ...]

An option is scored exactly only when its text is a whole number of tokens at the end of the
prompt (no token straddles the seam); otherwise `score_exact` returns None and the caller falls
back to the top-logprobs walk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from guidance_engine.errors import ModelAPIError
from guidance_engine.llms.base import SelectRequest
from guidance_engine.llms.openai_protocols import ServerSession
from guidance_engine.llms.openai_wire import with_retries


async def score_exact(
    session: ServerSession, request: SelectRequest, options: tuple[str, ...],
    usages: list[dict[str, Any]],
) -> dict[str, float] | None:
    """log P(option | prompt) for every option, or None when the server cannot say exactly."""
    llm = session.llm
    try:
        if llm.capabilities.chat_api:
            answers = await asyncio.gather(*(_chat(session, request, o) for o in options))
            rows = [a.get("prompt_logprobs") for a in answers]
        else:
            answer = await _completions(session, request, options)
            answers = [answer]
            by_index = {int(c.get("index") or 0): c for c in answer.get("choices") or ()}
            rows = [by_index.get(i, {}).get("prompt_logprobs") for i in range(len(options))]
    except ModelAPIError as exc:
        if exc.status in (400, 422):  # a server that refuses prompt_logprobs: walk instead
            return None
        raise
    usages.extend(dict(a.get("usage") or {}) for a in answers)
    scores = {}
    for option, row in zip(options, rows, strict=True):
        score = option_logprob(row, option)
        if score is None:
            return None
        scores[option] = score
    return scores


def option_logprob(row: Sequence[Any] | None, option: str) -> float | None:
    """Sum of the logprobs of the last prompt tokens, which must spell exactly `option`.

    >>> row = [None, {"1": {"logprob": -1.0, "decoded_token": "A:"}},
    ...        {"2": {"logprob": -0.5, "decoded_token": " y"}},
    ...        {"3": {"logprob": -0.25, "decoded_token": "es"}}]
    >>> option_logprob(row, " yes"), option_logprob(row, "es"), option_logprob(row, "s")
    (-0.75, -0.25, None)
    """
    if not row or not option:
        return None
    text, total = "", 0.0
    for entry in reversed(row):
        if not entry or len(entry) != 1:  # the first token has none; k=0 gives one each
            return None
        (info,) = entry.values()
        text = str(info.get("decoded_token") or "") + text
        total += float(info["logprob"])
        if len(text) >= len(option):
            return total if text == option else None
    return None


async def _completions(
    session: ServerSession, request: SelectRequest, options: tuple[str, ...]
) -> dict[str, Any]:
    llm = session.llm
    params = {"model": llm.model, "prompt": [request.prompt + o for o in options],
              "max_tokens": 1, "temperature": 0.0,
              "extra_body": {"prompt_logprobs": 0, **session.server_fields()}}
    return await _send(session, llm.client().completions, params)


async def _chat(session: ServerSession, request: SelectRequest, option: str) -> dict[str, Any]:
    llm = session.llm
    body = llm.body(request, option)  # the option continues the assistant's message
    extra = {**body.pop("extra_body", {}), "prompt_logprobs": 0, **session.server_fields()}
    params = {"model": llm.model, **body, "max_tokens": 1, "temperature": 0.0,
              "extra_body": extra}
    return await _send(session, llm.client().chat.completions, params)


async def _send(session: ServerSession, endpoint: Any, params: dict[str, Any]) -> dict[str, Any]:
    if session.headers():
        params = {**params, "extra_headers": session.headers()}

    async def once() -> dict[str, Any]:
        session.requests += 1
        answer = await endpoint.create(**params)
        return dict(answer.model_dump())

    result: dict[str, Any] = await with_retries(once, session.llm.retry, session.llm.api_type)
    return result
