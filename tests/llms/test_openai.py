"""guidance.llms.OpenAI without a server: settings, keys, chat shapes and constraints are
refused before any request (the base URL points at a port nobody listens on)."""

from __future__ import annotations

from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.constraints import ConstraintSpec
from guidance_engine.constraints.dialects import (
    check_cut_value,
    check_value,
    server_constraint,
    vllm_dialect,
)
from guidance_engine.errors import (
    ConstraintError,
    IncompleteOutputError,
    ModelError,
    TemplateRuntimeError,
)
from guidance_engine.llms.llamacpp_server import free_port

_NOWHERE = f"http://127.0.0.1:{free_port()}/v1"


def _chat(api_type: str = "llamacpp", **kwargs: Any) -> Any:
    return guidance.llms.OpenAI("m", api_type=api_type, base_url=_NOWHERE, api_key="k",
                                chat_mode=True, caching=False, **kwargs)


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelError) as info:
        guidance.llms.OpenAI("gpt-4o-mini")
    assert str(info.value) == ("api_type='openai' needs an API key: pass api_key=... or set the "
                               "OPENAI_API_KEY environment variable")
    monkeypatch.delenv("FRIENDLI_TOKEN", raising=False)
    with pytest.raises(ModelError, match="set the FRIENDLI_TOKEN environment variable"):
        guidance.llms.OpenAI("meta-llama-3.1-8b-instruct", api_type="friendli")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert guidance.llms.OpenAI("gpt-4o-mini").api_key == "sk-test"


def test_server_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLLM_BASE_URL", raising=False)
    with pytest.raises(ModelError) as info:
        guidance.llms.OpenAI("qwen", api_type="vllm")
    assert str(info.value) == ("api_type='vllm' needs the server's address: pass "
                               "base_url='http://host:port/v1' or set VLLM_BASE_URL")
    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    with pytest.raises(ModelError, match="api_type='azure' needs api_version="):
        guidance.llms.OpenAI("gpt-4o", api_type="azure", api_key="k", api_base=_NOWHERE)
    with pytest.raises(ModelError, match="api_type must be one of 'openai', 'azure'"):
        guidance.llms.OpenAI("x", api_type="anthropic")


def test_chat_mode_follows_the_model_name() -> None:
    def mode(model: str, api_type: str = "openai") -> bool:
        return bool(guidance.llms.OpenAI(model, api_type=api_type, api_key="k",
                                         base_url=_NOWHERE).chat_mode)

    assert [mode("gpt-4o-mini"), mode("gpt-3.5-turbo"), mode("gpt-3.5-turbo-instruct"),
            mode("davinci-002")] == [True, True, False, False]
    assert [mode("Qwen2-7B-Instruct", "vllm"), mode("smollm2", "llamacpp")] == [True, False]


@pytest.mark.parametrize(("template", "expected"), [
    ("Hi {{#user}}x{{/user}}{{#assistant}}{{gen 'a'}}{{/assistant}}",
     "'gen' failed: text outside a role block cannot be sent to a chat model (found 'Hi'); put "
     "it inside {{#system}}, {{#user}} or {{#assistant}}, or use chat_mode=False"),
    ("{{#user}}Q? {{gen 'a'}}{{/user}}",
     "'gen' failed: on a chat model a gen or select must be inside {{#assistant}}..."
     "{{/assistant}} (it is the assistant's turn); this one is inside a {{#user}} block; or use "
     "chat_mode=False"),
    ("{{#user}}Q?{{/user}}{{#assistant}}{{gen 'a'}} Done.{{/assistant}}",
     "'gen' failed: on a chat model a gen must end its {{#assistant}} turn: the server writes "
     "the whole turn, so template text after the gen inside the same block is impossible; move "
     "that text after {{/assistant}} or use chat_mode=False"),
])
def test_impossible_chat_shapes_fail_at_the_gen(template: str, expected: str) -> None:
    llm = _chat()
    with pytest.raises(TemplateRuntimeError) as info:
        guidance(template, llm=llm)()
    assert info.value.message == expected
    assert info.value.span is not None and template[info.value.span.start:].startswith("gen")


def test_openai_chat_cannot_continue_an_assistant_message() -> None:
    with pytest.raises(TemplateRuntimeError) as info:
        guidance("{{#user}}Q{{/user}}{{#assistant}}A: {{gen 'a'}}{{/assistant}}",
                 llm=_chat("openai"))()
    assert info.value.message == (
        "'gen' failed: this chat API cannot continue an assistant message already begun (found "
        "'A: ' before the gen inside {{#assistant}}); start the gen right after {{#assistant}}, "
        "or use a server that continues messages (llama.cpp, vLLM)")


def test_inexpressible_constraints_are_refused_before_any_request() -> None:
    with pytest.raises(ConstraintError) as info:
        guidance("{{#user}}Q{{/user}}{{#assistant}}{{gen 'a' pattern='[0-9]+'}}{{/assistant}}",
                 llm=_chat("openai"))()
    assert info.value.message == (
        "pattern= cannot be sent to an api_type='openai' server: it enforces only json_schema=, "
        "stop_regex=; use a server with that constraint (llama.cpp or vLLM take pattern=, "
        "json_schema= and grammar=) or a local model")


def test_dialects() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert server_constraint(ConstraintSpec(json_schema=schema), "openai") == {
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "value", "schema": schema, "strict": True}}}
    assert server_constraint(ConstraintSpec(options=("a", "b")), "vllm") == {
        "structured_outputs": {"choice": ["a", "b"]}}
    assert server_constraint(ConstraintSpec(options=("a", "b")), "vllm-guided") == {
        "guided_choice": ["a", "b"]}
    assert server_constraint(ConstraintSpec(json_schema=schema), "vllm", chat=True) == {
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "value", "schema": schema}}}
    assert server_constraint(ConstraintSpec(json_schema=schema), "vllm") == {
        "structured_outputs": {"json": schema}}
    assert server_constraint(ConstraintSpec(grammar='start: "a" | "b"'), "vllm") == {
        "structured_outputs": {"grammar": '%llguidance {}\nstart: "a" | "b"'}}
    assert [vllm_dialect(v) for v in ("0.32.0", "0.10.2", "0.10.1.1", "0.6.3.post1", None)] == [
        "vllm", "vllm", "vllm-guided", "vllm-guided", "vllm"]
    assert server_constraint(ConstraintSpec(pattern=r"\d+"), "friendli") == {
        "response_format": {"type": "regex", "schema": r"\d+"}}
    assert server_constraint(ConstraintSpec(json_schema=schema), "llamacpp") == {
        "json_schema": schema}
    spec = ConstraintSpec(json_schema=schema)
    assert [check_value(spec, t) for t in ['{"a": 1}', '{ "a":1}', '{"a": ', '{"a": "x"}']] == [
        "complete", "complete", "partial", "invalid"]


def test_a_value_cut_by_max_tokens_is_incomplete_unless_partial_values_are_allowed() -> None:
    spec = ConstraintSpec(pattern=r"\d{3}-\d{4}")
    assert check_cut_value(spec, "555-1234", "phone", allow_partial=False) == "complete"
    assert check_cut_value(spec, "555-1", "phone", allow_partial=True) == "partial"
    assert check_cut_value(spec, "55x", "phone", allow_partial=False) == "invalid"
    with pytest.raises(IncompleteOutputError) as info:
        check_cut_value(spec, "555-1", "phone", allow_partial=False)
    assert "'phone'" in str(info.value) and "555-1" in str(info.value)


def test_an_unknown_server_stays_openai_with_a_warning_naming_api_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A loopback server that answers neither llama.cpp's /props nor vLLM's /version."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        with pytest.warns(UserWarning) as warned:
            llm = guidance.llms.OpenAI("m", api_base=url)
    finally:
        server.shutdown()
        server.server_close()
    assert llm.api_type == "openai" and len(warned) == 1
    assert str(warned[0].message) == (
        f"could not tell which server is at {url} (no llama.cpp /props, no vLLM /version); "
        f"treating it as api_type='openai', which takes no pattern=, grammar= or choice "
        f"constraints; pass api_type='vllm', 'llamacpp', 'friendli' or 'azure' if it is one")


def test_openai_itself_is_never_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    monkeypatch.setenv("OPENAI_API_KEY", "k")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        llms = [guidance.llms.OpenAI("gpt-4o-mini"),
                guidance.llms.OpenAI("gpt-4o-mini", api_base="https://api.openai.com/v1")]
    assert [llm.api_type for llm in llms] == ["openai", "openai"]


def test_vllms_version_is_asked_off_the_event_loop_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow /version must not block the loop that other programs share."""
    import asyncio
    import threading

    from guidance_engine.llms import openai as openai_module

    asked: list[threading.Thread] = []

    def version(base_url: str, timeout: float) -> str:
        asked.append(threading.current_thread())
        return "0.9.1"

    monkeypatch.setattr(openai_module, "vllm_version", version)
    llm = guidance.llms.OpenAI("m", api_type="vllm", api_key="k",
                               base_url="http://127.0.0.1:9/v1", caching=False)

    async def twice() -> tuple[str, str]:
        return await llm.dialect(), await llm.dialect()

    assert asyncio.run(twice()) == ("vllm-guided", "vllm-guided")
    assert len(asked) == 1 and asked[0] is not threading.main_thread()
