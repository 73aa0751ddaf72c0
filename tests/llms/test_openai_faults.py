"""Faults between the client and a real llama.cpp server, injected by a loopback proxy:
retried with backoff (Retry-After honoured) or reported with the server's status and message at
the gen's position; text is never shown twice, lost, or half-saved into a variable."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.errors import ModelAPIError

_TEMPLATE = "The capital of France is{{gen 'city' max_tokens=12 stop='\\n'}}"


def _llm(url: str, **kwargs: Any) -> Any:
    return guidance.llms.OpenAI("smollm2", api_type="llamacpp", base_url=url, caching=False,
                                **kwargs)


def _stream(llm: Any) -> tuple[list[str], Any]:
    program = guidance(_TEMPLATE, llm=llm)
    snapshots = list(program(stream=True))
    return [p.text for p in snapshots], snapshots[-1]


def test_retried_faults_show_each_piece_of_text_once(proxy: Any) -> None:
    clean_chunks, clean = _stream(_llm(proxy.base_url))
    proxy.requests.clear()
    proxy.fault("status", status=429, headers={"Retry-After": "0"})
    proxy.fault("status", status=503)
    proxy.fault("cut", after=3)  # the stream drops after 3 events: text was already shown
    proxy.fault("malformed", after=2)
    chunks, out = _stream(_llm(proxy.base_url, max_retries=5))
    assert out["city"] == clean["city"] and out.text == clean.text
    assert len(proxy.requests) == 5
    assert all(b.startswith(a) for a, b in itertools.pairwise(chunks))  # nothing taken back
    assert chunks[-1] == clean_chunks[-1]


def test_a_timeout_is_retried(proxy: Any) -> None:
    # The first attempt surely times out (no answer for 5 s; the proxy drops it without
    # forwarding when the client hangs up); 2 s leaves the retry ample time on a loaded box.
    proxy.fault("slow", delay=5.0)
    out = guidance(_TEMPLATE, llm=_llm(proxy.base_url, timeout=2.0))()
    assert out["city"].startswith(" Paris") and len(proxy.requests) == 2


def test_a_refused_request_names_status_message_and_position(proxy: Any) -> None:
    proxy.fault("status", status=401, body={"error": {"message": "Invalid API Key"}})
    program = guidance("Q: {{gen 'first' max_tokens=2}}", llm=_llm(proxy.base_url))
    with pytest.raises(ModelAPIError) as info:
        program()
    assert (info.value.status, str(info.value)) == (401, (
        "the llamacpp server answered 401: Invalid API Key (line 1, column 6)\n"
        "    Q: {{gen 'first' max_tokens=2}}\n         ^"))
    assert len(proxy.requests) == 1  # not retried


def test_giving_up_after_max_retries_saves_nothing(proxy: Any) -> None:
    for _ in range(3):
        proxy.fault("status", status=500, body={"error": {"message": "boom"}})
    partial = guidance("A{{gen 'a' max_tokens=2}}{{await 'x'}}B{{gen 'b' max_tokens=2}}",
                       llm=_llm(proxy.base_url, max_retries=2))
    with pytest.raises(ModelAPIError, match=r"^the llamacpp server answered 500: boom \(gave "
                       r"up after 3 attempts\)"):
        partial()
    assert len(proxy.requests) == 3


def test_azure_request_shape(proxy: Any) -> None:
    proxy.rewrite["/openai/deployments/my-dep/completions"] = "/v1/completions"
    llm = guidance.llms.OpenAI("smollm2", api_type="azure", api_key="az-key",
                               api_base=proxy.root, api_version="2024-06-01",
                               deployment_id="my-dep", caching=False)
    out = guidance(_TEMPLATE, llm=llm)()
    assert out["city"].startswith(" Paris")
    (request,) = proxy.requests
    assert request.path == "/openai/deployments/my-dep/completions"
    assert request.query == {"api-version": ["2024-06-01"]}
    assert request.headers["api-key"] == "az-key" and "authorization" not in request.headers
