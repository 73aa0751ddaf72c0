from __future__ import annotations

import guidance_engine as guidance
from guidance_engine.llmcompiler.docstore import Doc, Docstore
from guidance_engine.llmcompiler.math_tool import MathTool
from guidance_engine.llmcompiler.react import ReAct
from guidance_engine.llmcompiler.tools import Arg, Tool

STORE = Docstore([Doc("Mount Everest", (), "Mount Everest is 8,849 m high."),
                  Doc("K2", (), "K2 is 8,611 m high.")])


def tools(llm: guidance.llms.Mock) -> list[Tool]:
    return [Tool("search", "search(entity: str) -> str", (Arg("entity"),), STORE.search),
            MathTool(llm).tool()]


def test_react_calls_one_tool_per_turn_and_finishes() -> None:
    llm = guidance.llms.Mock({
        "Thought:": ["I need Everest.", "I need K2.", "I compute.", "Done."],
        "Action:": ['search("Mount Everest")', 'search("K2")', 'math("Everest minus K2")',
                    "Finish(238 m (781 ft))"],
        "assistant\n": ["8849 - 8611"],
    })
    result = ReAct(tools(llm), llm=llm).run("How much taller is Everest than K2?")
    assert result.answer == "238 m (781 ft)"
    steps = result.trace.steps
    assert [s.observation for s in steps] == ["Mount Everest is 8,849 m high.",
                                              "K2 is 8,611 m high.", "238", ""]
    math_prompt = next(c.prompt for c in llm.calls if getattr(c, "grammar", None) == "arithmetic")
    assert "- Mount Everest is 8,849 m high.\n- K2 is 8,611 m high." in math_prompt
    last_prompt = llm.calls[-1].prompt
    assert ('Action: search("K2")\nObservation: K2 is 8,611 m high.\n'
            "Thought: I compute.\nAction: math(\"Everest minus K2\")\nObservation: 238\n"
            "Thought: Done.\nAction: ") in last_prompt
    assert result.trace.usage.model_calls == 9  # 4 thoughts + 4 actions + 1 math


def test_react_gives_up_after_max_iterations() -> None:
    llm = guidance.llms.Mock({"Thought:": "Again.", "Action:": 'search("Nowhere")'})
    result = ReAct(tools(llm), llm=llm, max_iterations=3).run("?")
    assert result.answer is None and len(result.trace.steps) == 3
    assert result.trace.steps[0].observation.startswith("Could not find [Nowhere]. Similar:")
