"""LLMCompiler end to end on scripted models: streaming dispatch, joiner, replanning, trace."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import guidance_engine as guidance
from guidance_engine.errors import IncompleteOutputError
from guidance_engine.llmcompiler import LLMCompiler
from guidance_engine.llmcompiler.docstore import Doc, Docstore
from guidance_engine.llmcompiler.math_tool import MathTool
from guidance_engine.llmcompiler.tools import NO_LATENCY, Arg, Latency, Tool
from guidance_engine.llms.base import ChunkCallback, GenRequest, GenResult, Session
from guidance_engine.llms.mock import MockSession

STORE = Docstore([
    Doc("Mount Everest", (), "Mount Everest is 8,849 m high."),
    Doc("K2", (), "K2 is 8,611 m high."),
    Doc("Sydney Tower Eye", ("Sydney Tower",), "Sydney Tower Eye is 309 m tall."),
])
PLAN = ('1. search("Mount Everest")\n2. search("K2")\n'
        '3. math("Everest minus K2", ["$1", "$2"])\nThought: That is all.\n4. join()')
JOINER = {"Thought:": "Everest is 238 m taller.", "Action:": "Finish", "Finish(": "238 m)"}


def search(latency: Latency = NO_LATENCY) -> Tool:
    return Tool("search", "search(entity: str) -> str", (Arg("entity"),), STORE.search, latency)


def test_plan_runs_in_parallel_and_the_joiner_answers_with_a_full_trace() -> None:
    llm = guidance.llms.Mock({"assistant\n": [PLAN, "8849 - 8611"], **JOINER})
    agent = LLMCompiler([search(), MathTool(llm).tool()], llm=llm)
    result = asyncio.run(agent.arun("How much taller is Everest than K2?"))
    assert result.answer == "238 m"
    trace = result.trace
    assert [p.text for p in trace.plans] == [PLAN] and trace.replans == 0
    assert [(t.index, t.tool, t.observation) for t in trace.tasks] == [
        (1, "search", "Mount Everest is 8,849 m high."), (2, "search", "K2 is 8,611 m high."),
        (3, "math", "238")]
    assert trace.tasks[2].args == ["Everest minus K2", ["Mount Everest is 8,849 m high.",
                                                        "K2 is 8,611 m high."]]
    assert all(t.start is not None and t.end is not None and t.start <= t.end
               for t in trace.tasks)
    assert trace.tasks[2].start >= max(trace.tasks[0].end, trace.tasks[1].end)  # type: ignore
    assert [(j.thought, j.action, j.argument) for j in trace.joins] == [
        ("Everest is 238 m taller.", "Finish", "238 m")]
    assert trace.usage.model_calls == 5  # plan, math, thought, action, answer
    # One shared prefix: the joiner's prompt extends the planner's by the plan and its results;
    # the math call shares the system text and the question.
    planner_prompt, math_prompt, joiner_prompt = (llm.calls[i].prompt for i in (0, 1, -1))
    assert joiner_prompt.startswith(
        f"{planner_prompt}{PLAN}<|im_end|>\n<|im_start|>user\nResults:\n1. search(")
    system = planner_prompt.split("<|im_start|>user\n")[0]
    assert planner_prompt == (f"{system}<|im_start|>user\nQuestion: How much taller is Everest "
                              "than K2?<|im_end|>\n<|im_start|>assistant\n")
    assert math_prompt.startswith(f"{system}<|im_start|>user\nQuestion: How much taller is "
                                  "Everest than K2?\n\nMath problem: Everest minus K2\n")
    assert ("Observation: 238\nThought: That is all.\n\nThe answer is a number: finish with "
            "the number alone, without units.\n\nDecide: one Thought: line, then one Action: "
            "line.<|im_end|>") in joiner_prompt
    assert trace.as_dict()["replans"] == 0


@dataclass
class SlowPlanner(guidance.llms.Mock):
    """Writes the plan line by line; before the last line it waits until task 1 has started."""

    lines: tuple[str, ...] = ()
    started: asyncio.Event | None = None

    def __post_init__(self) -> None:
        super().__init__(JOINER)
        self.emitted_last = False

    def session(self) -> Session:
        return _SlowSession(self)


class _SlowSession(MockSession):
    llm: SlowPlanner

    async def gen(self, request: GenRequest, on_chunk: ChunkCallback | None = None) -> GenResult:
        if not (request.grammar or "").startswith("start: plan_"):
            return await super().gen(request, on_chunk)
        self.llm.calls.append(request)
        assert on_chunk is not None and self.llm.started is not None
        for line in self.llm.lines[:-1]:
            on_chunk(0, line + "\n")
            await asyncio.sleep(0)
        # A planner whose tasks only start after the whole plan would wait here for ever.
        await asyncio.wait_for(self.llm.started.wait(), 10)
        self.llm.emitted_last = True
        on_chunk(0, self.llm.lines[-1])
        return GenResult(("\n".join(self.llm.lines),), ("stop",), ("",))


def test_streaming_dispatch_starts_task_1_before_the_last_plan_line_exists() -> None:
    async def main() -> Any:
        started = asyncio.Event()

        async def probe(entity: str) -> str:
            started.set()
            return STORE.search(entity)

        llm = SlowPlanner(lines=('1. search("K2")', '2. search("Mount Everest")', "3. join()"),
                          started=started)
        tool = Tool("search", "search(entity: str) -> str", (Arg("entity"),), probe)
        result = await LLMCompiler([tool], llm=llm).arun("Everest or K2?")
        return llm, result

    llm, result = asyncio.run(main())
    assert llm.emitted_last and result.answer == "238 m"
    assert result.trace.tasks[0].start < result.trace.plans[0].end


def test_without_streaming_tasks_start_after_the_plan_is_complete() -> None:
    llm = guidance.llms.Mock({"assistant\n": '1. search("K2")\n2. search("K2")\n3. join()',
                              **JOINER})
    result = LLMCompiler([search()], llm=llm, stream=False).run("K2?")
    plan_end = result.trace.plans[0].end
    assert all(task.start is not None and task.start >= plan_end for task in result.trace.tasks)


def test_k_independent_tasks_of_latency_l_overlap() -> None:
    """Each call waits (10 s at most) until all k calls have started, so the overlap holds by
    construction; an executor that runs one call at a time fails with a timeout observation."""
    k, latency = 5, 0.05
    plan = "\n".join(f'{i}. search("K2")' for i in range(1, k + 1)) + f"\n{k + 1}. join()"
    started: list[str] = []
    everyone = asyncio.Event()

    async def meet(entity: str) -> str:
        started.append(entity)
        if len(started) == k:
            everyone.set()
        try:
            await asyncio.wait_for(everyone.wait(), 10)
        finally:
            everyone.set()  # after a timeout the calls still waiting give up at once
        return STORE.search(entity)

    tool = Tool("search", "search(entity: str) -> str", (Arg("entity"),), meet,
                Latency.fixed(latency))
    llm = guidance.llms.Mock({"assistant\n": plan, **JOINER})
    # k identical calls would be refused as repeats; this test is about overlap only.
    trace = LLMCompiler([tool], llm=llm, check_plans=False).run("K2?").trace
    assert [t.observation for t in trace.tasks] == ["K2 is 8,611 m high."] * k
    starts = [t.start for t in trace.tasks if t.start is not None]
    ends = [t.end for t in trace.tasks if t.end is not None]
    assert len(starts) == len(ends) == k and max(starts) < min(ends)
    # The latency was waited (it overlaps the call, so each task took at least that long).
    assert min(end - start for start, end in zip(starts, ends, strict=True)) >= latency - 1e-3


def test_replan_runs_with_the_earlier_plan_observations_and_reason() -> None:
    llm = guidance.llms.Mock({
        "assistant\n": ['1. search("Harbour Bridge")\n2. join()',
                        '2. search("Sydney Tower")\n3. join()'],
        "Thought:": ["The height is missing.", "Sydney Tower Eye is 309 m tall."],
        "Action:": ["Replan", "Finish"],
        "Replan(": "search the tower by its name)",
        "Finish(": "309 m)",
    })
    result = LLMCompiler([search()], llm=llm).run(
        "How tall is the Sydney Tower, near the Harbour Bridge?")
    assert result.answer == "309 m"
    trace = result.trace
    assert trace.replans == 1 and [t.index for t in trace.tasks] == [1, 2]
    assert [t.plan for t in trace.tasks] == [0, 1]
    assert trace.tasks[1].observation == "Sydney Tower Eye is 309 m tall."
    second_plan = [c for c in llm.calls if (getattr(c, "grammar", None) or "").startswith(
        "start: plan_")][1]
    assert second_plan.grammar.startswith("start: plan_2\n")  # type: ignore[union-attr]
    first_plan = next(c for c in llm.calls if (getattr(c, "grammar", None) or "").startswith(
        "start: plan_"))
    assert second_plan.prompt.startswith(first_plan.prompt)  # the replan extends the run
    assert ('<|im_start|>user\nResults:\n1. search("Harbour Bridge")\nObservation: Could not '
            "find") in second_plan.prompt
    assert second_plan.prompt.endswith(
        "<|im_start|>assistant\nThought: The height is missing.\nAction: Replan(search the "
        "tower by its name)<|im_end|>\n<|im_start|>user\nWrite a new plan for what is still "
        "missing. Number its actions from 2; the results above may be used as $N.<|im_end|>\n"
        "<|im_start|>assistant\n")
    final_joiner = [c for c in llm.calls if getattr(c, "options", None)][-1]
    assert final_joiner.prompt.startswith(second_plan.prompt)
    assert '2. search("Sydney Tower")\nObservation: Sydney Tower Eye is 309 m tall.' in (
        final_joiner.prompt)


def test_a_replan_may_name_what_the_tasks_found_but_not_the_joiners_instructions() -> None:
    llm = guidance.llms.Mock({
        "assistant\n": ['1. search("Harbour Bridge")\n2. join()',
                        '2. search("Decide Thought")\n3. join()'],
        "Thought:": ["The height is missing.", "Nothing more."],
        "Action:": ["Replan", "Finish"],
        "Replan(": "look again)",
        "Finish(": "unknown)",
    })
    result = LLMCompiler([search()], llm=llm).run(
        "How tall is the Sydney Tower, near the Harbour Bridge?")
    # "Decide" and "Thought" are words of the joiner's instructions, not of any result.
    assert " refused: " in (result.trace.plans[1].error or "")
    assert [t.plan for t in result.trace.tasks] == [0]


def test_after_max_replans_the_joiner_can_only_finish() -> None:
    llm = guidance.llms.Mock({
        "assistant\n": '1. search("nothing")\n2. join()',
        "Thought:": "Still missing.", "Action:": "Replan", "Replan(": "try again)",
        "Finish(": "unknown)",
    })
    result = LLMCompiler([search()], llm=llm, max_replans=2).run("?")
    assert result.trace.replans == 2 and result.answer == "unknown"
    assert [j.action for j in result.trace.joins] == ["Replan", "Replan", "Finish"]
    selects = [c.options for c in llm.calls if getattr(c, "options", None)]
    assert selects == [("Finish", "Replan"), ("Finish", "Replan"), ("Finish",)]


def test_tool_errors_reach_the_joiner_as_observations() -> None:
    def broken(entity: str) -> str:
        raise ConnectionError("docstore offline")

    tool = Tool("search", "search(entity: str)", (Arg("entity"),), broken)
    llm = guidance.llms.Mock({"assistant\n": '1. search("K2")\n2. join()', **JOINER})
    result = LLMCompiler([tool], llm=llm).run("K2?")
    assert result.trace.tasks[0].observation == "Error: ConnectionError: docstore offline"
    assert "Observation: Error: ConnectionError: docstore offline" in llm.calls[-1].prompt


class _CutSession(MockSession):
    """Streams part of a plan, then fails as a backend does when max_tokens cuts a grammar."""

    async def gen(self, request: GenRequest, on_chunk: ChunkCallback | None = None) -> GenResult:
        if not (request.grammar or "").startswith("start: plan_"):
            return await super().gen(request, on_chunk)
        assert on_chunk is not None
        on_chunk(0, '1. search("K2")\n2. search("Mount')
        raise IncompleteOutputError("gen 'plan' stopped (max_tokens) before its grammar was "
                                    "complete")


class CutPlanner(guidance.llms.Mock):
    def session(self) -> Session:
        return _CutSession(self)


def test_a_plan_cut_by_max_tokens_keeps_its_complete_tasks() -> None:
    llm = CutPlanner(JOINER)
    result = LLMCompiler([search()], llm=llm).run("K2?")
    plan = result.trace.plans[0]
    assert plan.error is not None and plan.error.startswith("gen 'plan' stopped (max_tokens)")
    assert plan.text == '1. search("K2")\n2. search("Mount'
    assert [t.observation for t in result.trace.tasks] == ["K2 is 8,611 m high."]
    assert result.answer == "238 m"


def test_an_unparseable_line_ends_the_plan_and_is_recorded() -> None:
    llm = guidance.llms.Mock({"assistant\n": '1. search("K2")\nI think so\n2. join()', **JOINER})
    result = LLMCompiler([search()], llm=llm).run("K2?")
    assert result.trace.plans[0].error == ("expected 'N. tool(arguments)', 'Thought: ...' or "
                                           "'N. join()' (plan line 'I think so', column 1)")
    assert [t.index for t in result.trace.tasks] == [1]
