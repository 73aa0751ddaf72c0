"""LLMCompiler and ReAct on a chat endpoint: llama.cpp's server (SmolLM2 GGUF, on 127.0.0.1)
through `OpenAI(..., chat_mode=True)`. Every request goes to `/v1/chat/completions`, and the
joiner's and ReAct's turns are single gens under the turn grammar, parsed back into the trace.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import guidance_engine as guidance
from guidance_engine.llmcompiler import LLMCompiler, ReAct, Tool
from guidance_engine.llmcompiler.joiner import FINISH, REPLAN

PLANNER_EXAMPLES = """Example:
Question: What is the capital of Italy?
1. capital("Italy")
2. join()"""
JOINER_EXAMPLES = """Example:
Question: What is the capital of Italy?
1. capital("Italy")
Observation: Rome
Thought: The capital of Italy is Rome.
Action: Finish(Rome)"""
REACT_EXAMPLES = """Example:
Question: What is the capital of Italy?
Thought: I need the capital of Italy.
Action: capital("Italy")
Observation: Rome
Thought: The capital of Italy is Rome.
Action: Finish(Rome)"""
QUESTION = "What is the capital of France?"


def capital(country: str) -> str:
    """The capital city of a country."""
    return {"France": "Paris", "Spain": "Madrid", "Italy": "Rome"}.get(country, "unknown")


def chat_llm(server: Any, bodies: list[tuple[str, dict[str, Any]]]) -> Any:
    """The server as a chat model; each request's path and JSON body lands in `bodies`."""
    import openai

    async def record(request: Any) -> None:
        bodies.append((request.url.path, json.loads(request.content or b"{}")))

    client = openai.DefaultAsyncHttpxClient(timeout=300, event_hooks={"request": [record]})
    return guidance.llms.OpenAI("smollm2", api_type="llamacpp", base_url=server.base_url,
                                chat_mode=True, caching=False, http_client=client)


def turn_requests(bodies: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The requests whose grammar is a whole Thought/Action turn."""
    return [body for _, body in bodies if "Action: " in str(body.get("grammar"))]


def test_llmcompiler_runs_on_a_chat_endpoint(llamacpp_server: Any) -> None:
    bodies: list[tuple[str, dict[str, Any]]] = []
    agent = LLMCompiler([Tool.from_function(capital)], llm=chat_llm(llamacpp_server, bodies),
                        planner_examples=PLANNER_EXAMPLES, joiner_examples=JOINER_EXAMPLES,
                        max_replans=1, max_tasks=3)
    result = asyncio.run(agent.arun(QUESTION))
    trace = result.trace
    assert trace.plans[0].error is None and trace.plans[0].text.endswith("join()")
    assert trace.tasks and all(task.tool == "capital" for task in trace.tasks)
    assert trace.joins and all(j.action in (FINISH, REPLAN) and j.thought for j in trace.joins)
    assert trace.joins[-1].action == FINISH and result.answer == trace.joins[-1].argument
    assert {path for path, _ in bodies} == {"/v1/chat/completions"}
    joiner = turn_requests(bodies)
    assert len(joiner) == len(trace.joins)  # one request per joiner turn, no select
    assert joiner[0]["grammar"].startswith("%llguidance {}\nstart: \"Thought: \"")
    assert joiner[0]["messages"][-1]["role"] == "user"  # the server writes the whole turn
    assert "Observation: " in joiner[0]["messages"][-1]["content"]


def test_react_runs_on_a_chat_endpoint(llamacpp_server: Any) -> None:
    bodies: list[tuple[str, dict[str, Any]]] = []
    agent = ReAct([Tool.from_function(capital)], llm=chat_llm(llamacpp_server, bodies),
                  examples=REACT_EXAMPLES, max_iterations=3)
    result = asyncio.run(agent.arun(QUESTION))
    steps = result.trace.steps
    assert steps and all(step.thought and step.action for step in steps)
    assert steps[-1].action.startswith("Finish(") and result.answer is not None
    requests = turn_requests(bodies)
    assert {path for path, _ in bodies} == {"/v1/chat/completions"}
    assert len(requests) == len(steps)
    last = requests[-1]["messages"][-1]  # the scratchpad follows the question, as a transcript
    assert last["role"] == "user" and last["content"].startswith(f"Question: {QUESTION}\n")
    assert all(f"Action: {step.action}\nObservation: {step.observation}" in last["content"]
               for step in steps[:-1])
