"""The third baseline: parallel function calling through the server's own OpenAI `tools` API.

The paper compares LLMCompiler with OpenAI's parallel function calling; here the same role is
played by whatever server the model runs on (llama.cpp with the model's Jinja chat template, which
parses Qwen2.5's tool calls; vLLM; OpenAI). Each turn sends the conversation with the tools as
JSON schemas; every tool call of the reply runs at once (`asyncio.gather`), their results go
back as `tool` messages, and a reply without tool calls is the answer. No template, grammar or
answer constraint is involved: the server's own tool-call parser decides what a call is. The
question's answer form (`answer_form`) is stated in the system message, as the joiner is told::

    agent = ToolCalling([search_tool, math_tool], llm=OpenAI("qwen", api_type="llamacpp", ...))
    result = await agent.arun("Which is taller, Everest or K2?")
    result.trace.steps   # one step per tool call: action, observation, start, end
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler.answer_form import TEXT, answer_form
from guidance_engine.llmcompiler.react import CONTEXT_TOOLS
from guidance_engine.llmcompiler.settings import check_count, check_question, tool_table
from guidance_engine.llmcompiler.tools import Tool
from guidance_engine.llmcompiler.trace import AgentResult, ReactStep, Trace
from guidance_engine.llms import with_retries

SYSTEM = (
    "Answer the question using the tools. Call every tool you need; calls that do not depend on "
    "each other can be made together in one turn. When you know the answer, reply with the "
    "answer alone, as short as possible (a name, a number, yes or no), without units or "
    "explanations."
)
_JSON_TYPES = {"str": {"type": "string"}, "number": {"type": "number"},
               "list": {"type": "array", "items": {"type": "string"}}}


def tool_schema(tool: Tool, description: str | None = None) -> dict[str, Any]:
    """The OpenAI `tools` entry of `tool`: a function with a JSON schema of its arguments."""
    return {"type": "function", "function": {
        "name": tool.name, "description": description or tool.description,
        "parameters": {"type": "object",
                       "properties": {a.name: _JSON_TYPES[a.kind] for a in tool.args},
                       "required": [a.name for a in tool.args if a.required]}}}


class ToolCalling:
    """A tools-API agent over `tools` on an OpenAI-compatible `llm`; see the module docstring."""

    def __init__(self, tools: Sequence[Tool], llm: Any, max_iterations: int = 10,
                 context_tools: Mapping[str, str] = CONTEXT_TOOLS, answer_forms: bool = True,
                 max_tokens: int = 256) -> None:
        if not callable(getattr(llm, "client", None)):
            raise GuidanceError("ToolCalling needs an OpenAI-compatible model "
                                "(guidance.llms.OpenAI); found " + type(llm).__name__)
        self.llm = llm
        self.tools = tool_table("ToolCalling", tools)
        check_count("ToolCalling", "max_iterations", max_iterations, least=1)
        self.max_iterations = max_iterations
        self.max_tokens = max_tokens
        self.answer_forms = answer_forms
        # As for ReAct: a context tool (math) takes the problem only and reads what was observed.
        self.context_tools = {n: d for n, d in context_tools.items() if n in self.tools}
        self.schemas = [tool_schema(self._offered(t), self.context_tools.get(t.name))
                        for t in self.tools.values()]

    def _offered(self, tool: Tool) -> Tool:
        if tool.name not in self.context_tools:
            return tool
        return replace(tool, args=tuple(a for a in tool.args if a.required))

    async def arun(self, question: str) -> AgentResult:
        check_question("ToolCalling", question)
        trace = Trace(question)
        origin = time.perf_counter()
        answer = await self._loop(question, trace, lambda: time.perf_counter() - origin)
        trace.latency = time.perf_counter() - origin
        return AgentResult(answer, trace)

    async def _loop(self, question: str, trace: Trace, clock: Callable[[], float]) -> str | None:
        form = answer_form(question) if self.answer_forms else TEXT
        system = f"{SYSTEM} {form.instruction()}".rstrip()
        messages: list[dict[str, Any]] = [{"role": "system", "content": system},
                                          {"role": "user", "content": question}]
        observations: list[str] = []
        for _ in range(self.max_iterations):
            message = await self._reply(messages, trace)
            calls = list(message.tool_calls or ())
            if not calls:
                return (message.content or "").strip() or None
            messages.append(message.model_dump(exclude_none=True))
            start = clock()
            results = await asyncio.gather(*(self._run(c, observations) for c in calls))
            end = clock()
            for call, (action, result) in zip(calls, results, strict=True):
                trace.steps.append(ReactStep(message.content or "", action, result, start, end))
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
            observations.extend(result for _, result in results)
        return None

    async def _reply(self, messages: list[dict[str, Any]], trace: Trace) -> Any:
        client = self.llm.client(True)
        response = await with_retries(  # 429/503/timeouts retried as for every other request
            lambda: client.chat.completions.create(
                model=self.llm.model, messages=messages, tools=self.schemas, temperature=0,
                max_tokens=self.max_tokens, parallel_tool_calls=True),
            self.llm.retry, self.llm.api_type)
        usage = response.usage
        if usage is not None:
            details = getattr(usage, "prompt_tokens_details", None)
            cached = int(getattr(details, "cached_tokens", 0) or 0)
            trace.usage.add(usage.prompt_tokens, usage.completion_tokens, 1,
                            usage.prompt_tokens - cached)
        return response.choices[0].message

    async def _run(self, call: Any, observations: list[str]) -> tuple[str, str]:
        """(the call as `name(args)`, its observation); a failure is an `Error: ...` text."""
        name = call.function.name
        try:
            arguments = json.loads(call.function.arguments or "{}")
        except json.JSONDecodeError as error:
            return f"{name}({call.function.arguments})", f"Error: arguments are not JSON: {error}"
        if not isinstance(arguments, dict):
            return (f"{name}({call.function.arguments})", "Error: arguments must be a JSON "
                    f"object of named arguments; found {type(arguments).__name__}")
        action = f"{name}({', '.join(json.dumps(v) for v in arguments.values())})"
        tool = self.tools.get(name)
        if tool is None:
            return action, f"Error: {name!r} is not one of {', '.join(self.tools)}"
        args: list[Any] = [arguments.get(a.name) for a in tool.args if a.name in arguments]
        if name in self.context_tools:
            args.append(list(observations))
        try:
            return action, str(await tool.call(args))
        except Exception as error:  # a failing tool is an observation, as in the other agents
            return action, f"Error: {type(error).__name__}: {error}"

