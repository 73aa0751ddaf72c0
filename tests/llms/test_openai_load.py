"""32 programs at once against the real vLLM server and the real llama.cpp server (2 slots),
from threads and from asyncio, with 429s and 503s injected by the proxy in front.

Every program copies its own code number (greedy), so a value that leaked from another program,
was lost, or was shown twice after a retry is seen; the proxy's log shows every program's
request reached the server exactly once more than the faults it met.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import guidance_engine as guidance

_PROGRAMS = 32
_TEMPLATE = ("Copy the code.\nCode: 4711 -> 4711\nCode: 2048 -> 2048\nCode: 9305 -> 9305\n"
             "Code: {{code}} ->{{gen 'copy' max_tokens=6 stop='\\n' temperature=0}}")
_CODES = [1000 + 263 * i for i in range(_PROGRAMS)]


def _faults(proxy: Any) -> int:
    for _ in range(4):
        proxy.fault("status", status=429, headers={"Retry-After": "0"})
        proxy.fault("status", status=503)
    return 8


def _check(proxy: Any, outs: list[Any], faults: int) -> None:
    assert [o["code"] for o in outs] == _CODES
    assert [o["copy"] for o in outs] == [f" {c}" for c in _CODES]
    sent = Counter(r.body["prompt"] for r in proxy.requests)
    assert set(sent) == {_TEMPLATE.split("{{")[0] + str(c) + " ->" for c in _CODES}
    assert sum(sent.values()) == _PROGRAMS + faults  # each fault cost one retry, no more
    sessions = {r.body["prompt"]: r.headers["x-session-id"] for r in proxy.requests}
    assert len(set(sessions.values())) == _PROGRAMS  # a retry keeps its program's session
    assert all(r.headers["x-session-id"] == sessions[r.body["prompt"]] for r in proxy.requests)
    proxy.requests.clear()


def _run_both_ways(proxy: Any, api_type: str) -> None:
    llm = guidance.llms.OpenAI("smollm2", api_type=api_type, base_url=proxy.base_url,
                               caching=False, max_retries=8)
    program = guidance(_TEMPLATE, llm=llm)
    faults = _faults(proxy)
    with ThreadPoolExecutor(_PROGRAMS) as pool:
        outs = list(pool.map(lambda c: program(code=c), _CODES))
    _check(proxy, outs, faults)

    concurrent = guidance(_TEMPLATE, llm=llm, async_mode=True)

    async def all_at_once() -> list[Any]:
        return list(await asyncio.gather(*(concurrent(code=c) for c in _CODES)))

    faults = _faults(proxy)
    _check(proxy, asyncio.run(all_at_once()), faults)


def test_32_programs_at_once_on_vllm(vllm_proxy: Any) -> None:
    _run_both_ways(vllm_proxy, "vllm")


def test_32_programs_at_once_on_llamacpp_with_two_slots(proxy: Any) -> None:
    _run_both_ways(proxy, "llamacpp")
