"""The tools-API baseline: parallel tool calls run at once, results go back as tool messages;
then through a real llama.cpp server's own tool calling, and the CLI's checks."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.llmcompiler import Tool
from guidance_engine.llmcompiler.tool_calling import ToolCalling, tool_schema
from guidance_engine.llmcompiler.tools import Arg
from guidance_engine.llms.openai_wire import RetryPolicy

from .test_cli import cli


def call(id_: str, name: str, arguments: dict[str, Any]) -> Any:
    return SimpleNamespace(id=id_, type="function", function=SimpleNamespace(
        name=name, arguments=json.dumps(arguments)))


class Message(SimpleNamespace):
    def model_dump(self, exclude_none: bool = False) -> dict[str, Any]:
        calls = [{"id": c.id, "type": "function", "function": {
            "name": c.function.name, "arguments": c.function.arguments}}
            for c in self.tool_calls or ()]
        return {"role": "assistant", "content": self.content, "tool_calls": calls}


class ScriptedServer:
    """Stands in for the OpenAI client: replies in order, records every request."""

    def __init__(self, replies: list[Any]) -> None:
        self.replies, self.requests = replies, []
        self.model, self.api_type, self.retry = "m", "llamacpp", RetryPolicy(base=0.01)
        self.failures = 0  # requests that fail (malformed JSON) before the next reply
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def client(self, asynchronous: bool = True) -> Any:
        return self

    async def create(self, **request: Any) -> Any:
        self.requests.append(json.loads(json.dumps(request)))
        if self.failures:
            self.failures -= 1
            raise json.JSONDecodeError("a reply cut short", "{", 1)  # retryable, as a 503
        usage = SimpleNamespace(prompt_tokens=100, completion_tokens=5,
                                prompt_tokens_details=SimpleNamespace(cached_tokens=60))
        return SimpleNamespace(choices=[SimpleNamespace(message=self.replies.pop(0))],
                               usage=usage)


def test_parallel_tool_calls_run_at_once_and_their_results_go_back() -> None:
    started: list[str] = []
    both = asyncio.Event()

    async def height(peak: str) -> str:
        started.append(peak)
        if len(started) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 10)  # a sequential agent times out here
        return {"Everest": "8849 m", "K2": "8611 m"}[peak]

    server = ScriptedServer([
        Message(content=None, tool_calls=[call("a", "height", {"peak": "Everest"}),
                                          call("b", "height", {"peak": "K2"})]),
        Message(content="Everest", tool_calls=None)])
    tool = Tool("height", "height(peak: str) -> str", (Arg("peak"),), height)
    result = asyncio.run(ToolCalling([tool], llm=server).arun(
        "Which is taller, Everest or K2?"))
    assert result.answer == "Everest"
    steps = result.trace.steps
    assert [(s.action, s.observation) for s in steps] == [
        ('height("Everest")', "8849 m"), ('height("K2")', "8611 m")]
    first, second = server.requests
    assert first["tools"] == [tool_schema(tool)] and first["parallel_tool_calls"] is True
    assert first["messages"][0]["content"].endswith(
        "The answer is one of: Everest; K2. Finish with exactly one of them.")
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool",
                                                       "tool"]
    assert [(m["tool_call_id"], m["content"]) for m in second["messages"][3:]] == [
        ("a", "8849 m"), ("b", "8611 m")]
    usage = result.trace.usage
    assert (usage.input_tokens, usage.processed_tokens, usage.model_calls) == (200, 80, 2)


def test_a_bad_call_is_an_error_observation() -> None:
    server = ScriptedServer([
        Message(content=None, tool_calls=[call("a", "fly", {"to": "K2"})]),
        Message(content="unknown", tool_calls=None)])
    tool = Tool("height", "height(peak: str) -> str", (Arg("peak"),), str)
    result = asyncio.run(ToolCalling([tool], llm=server).arun("How high is K2?"))
    assert result.trace.steps[0].observation == "Error: 'fly' is not one of height"


def test_arguments_that_are_not_an_object_are_an_error_observation() -> None:
    listed = SimpleNamespace(id="a", type="function",
                             function=SimpleNamespace(name="height", arguments="[1]"))
    server = ScriptedServer([Message(content=None, tool_calls=[listed]),
                             Message(content="unknown", tool_calls=None)])
    tool = Tool("height", "height(peak: str) -> str", (Arg("peak"),), str)
    result = asyncio.run(ToolCalling([tool], llm=server).arun("How high is K2?"))
    assert [(s.action, s.observation) for s in result.trace.steps] == [
        ("height([1])", "Error: arguments must be a JSON object of named arguments; found list")]


def test_a_failed_reply_is_retried() -> None:
    server = ScriptedServer([Message(content="8611 m", tool_calls=None)])
    server.failures = 2
    tool = Tool("height", "height(peak: str) -> str", (Arg("peak"),), str)
    result = asyncio.run(ToolCalling([tool], llm=server).arun("How high is K2?"))
    assert result.answer == "8611 m" and len(server.requests) == 3


def test_the_schema_follows_the_argument_kinds() -> None:
    tool = Tool("math", "math(problem, context)", (Arg("problem"), Arg("n", "number"),
                                                   Arg("context", "list", required=False)), str)
    assert tool_schema(tool)["function"]["parameters"] == {
        "type": "object", "required": ["problem", "n"],
        "properties": {"problem": {"type": "string"}, "n": {"type": "number"},
                       "context": {"type": "array", "items": {"type": "string"}}}}


def test_the_cli_refuses_two_baselines_and_a_model_without_a_tools_api(tmp_path: Any) -> None:
    both = cli("run", "--benchmark", "movie", "--store", str(tmp_path / "s.json"), "--react",
               "--tools_api")
    assert (both.returncode, both.stderr) == (
        2, "error: --react and --tools_api name two baselines; expected one of them\n")
    local = cli("run", "--benchmark", "movie", "--store", str(tmp_path / "s.json"),
                "--tools_api")
    assert local.stderr == ("error: --tools_api needs a server with an OpenAI tools API "
                            "(--model_type llamacpp, vllm or openai); a transformers model has "
                            "none\n")


@pytest.mark.server
def test_tool_calls_through_a_real_llamacpp_server(llamacpp_server: Any) -> None:
    def capital(country: str) -> str:
        """The capital city of a country."""
        return {"France": "Paris", "Spain": "Madrid"}.get(country, "unknown")

    llm = guidance.llms.OpenAI("smollm2", api_type="llamacpp",
                               base_url=llamacpp_server.base_url, caching=False)
    agent = ToolCalling([Tool.from_function(capital)], llm=llm, max_iterations=3)
    result = asyncio.run(agent.arun("What is the capital of France? Use the capital tool."))
    trace = result.trace
    assert trace.usage.model_calls >= 1 and trace.usage.input_tokens > 0
    assert trace.steps or result.answer  # a tool call was parsed by the server, or an answer
    assert all(s.action.startswith("capital(") and s.observation for s in trace.steps)
