"""Question isolation on one real llama.cpp server (SmolLM2 GGUF, 127.0.0.1): two questions run
one after the other by one agent on one server, and nothing of the first reaches the second, in
what is sent (every prompt and grammar) or in what comes back (plans, thoughts, answers)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.llmcompiler import LLMCompiler, ReAct, Tool

pytestmark = pytest.mark.server

FACTS = {"Zorblax Tower": "The Zorblax Tower is 731 m tall.",
         "Quenvik Bakery": "Quenvik Bakery was founded by Maren Holt."}
FIRST, SECOND = "How tall is the Zorblax Tower?", "Who founded Quenvik Bakery?"
OF_THE_FIRST = ("Zorblax", "731")  # nothing the second question, its tools or prompts contain
PLANNER_EXAMPLES = """Question: Who designed the Lotus Temple?
1. lookup("Lotus Temple")
2. join()"""
JOINER_EXAMPLES = """Question: Who designed the Lotus Temple?
1. lookup("Lotus Temple")
Observation: The Lotus Temple was designed by Fariborz Sahba.
Thought: The Lotus Temple was designed by Fariborz Sahba.
Action: Finish(Fariborz Sahba)"""
REACT_EXAMPLES = """Question: Who designed the Lotus Temple?
Thought: I need to look up the Lotus Temple.
Action: lookup("Lotus Temple")
Observation: The Lotus Temple was designed by Fariborz Sahba.
Thought: It was designed by Fariborz Sahba.
Action: Finish(Fariborz Sahba)"""


def lookup(entity: str) -> str:
    """Looks up one entity by its name."""
    return FACTS.get(entity, f"Could not find {entity}.")


def recording_llm(server: Any, bodies: list[dict[str, Any]]) -> Any:
    import openai

    async def record(request: Any) -> None:
        bodies.append(json.loads(request.content or b"{}"))

    client = openai.DefaultAsyncHttpxClient(timeout=300, event_hooks={"request": [record]})
    return guidance.llms.OpenAI("smollm2", api_type="llamacpp", base_url=server.base_url,
                                chat_mode=False, caching=False, http_client=client)


def run_both(agent: Any, bodies: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    """The first question, then the second on the same agent, model and server; the requests
    of the second."""
    async def both() -> Any:
        await agent.arun(FIRST)
        del bodies[:]
        return await agent.arun(SECOND)

    second = asyncio.run(both())
    return second, list(bodies)


def test_llmcompiler_second_question_holds_nothing_of_the_first(llamacpp_server: Any) -> None:
    bodies: list[dict[str, Any]] = []
    agent = LLMCompiler([Tool.from_function(lookup)], llm=recording_llm(llamacpp_server, bodies),
                        planner_examples=PLANNER_EXAMPLES, joiner_examples=JOINER_EXAMPLES,
                        max_replans=1, max_tasks=3)
    second, sent = run_both(agent, bodies)
    assert sent and all(SECOND in body["prompt"] for body in sent if "prompt" in body)
    for body in sent:
        text = json.dumps(body)
        assert not [word for word in OF_THE_FIRST if word in text], text[-400:]
    trace = second.trace
    written = [p.text for p in trace.plans] + [j.thought for j in trace.joins] + [
        t.observation for t in trace.tasks] + [str(second.answer)]
    assert not [word for word in OF_THE_FIRST for text in written if word in text], written


def test_react_second_question_holds_nothing_of_the_first(llamacpp_server: Any) -> None:
    bodies: list[dict[str, Any]] = []
    agent = ReAct([Tool.from_function(lookup)], llm=recording_llm(llamacpp_server, bodies),
                  examples=REACT_EXAMPLES, max_iterations=3)
    second, sent = run_both(agent, bodies)
    assert sent
    for body in sent:
        text = json.dumps(body)
        assert not [word for word in OF_THE_FIRST if word in text], text[-400:]
    written = [f"{s.thought} {s.action} {s.observation}" for s in second.trace.steps]
    assert not [word for word in OF_THE_FIRST for text in written if word in text], written
