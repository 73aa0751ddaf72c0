"""`LLMCompiler`: planner → task fetching unit → joiner, with real replanning.

    agent = LLMCompiler([search_tool, math_tool], llm=llm, planner_examples=EXAMPLES)
    result = await agent.arun("If Everest were 10% taller, how much taller than K2 would it be?")
    result.answer, result.trace.tasks[0].start, result.trace.usage.input_tokens

Each round, the planner streams a plan whose tasks start as soon as their lines (and their
dependencies) are complete; when all tasks are done, the joiner answers or asks for a new plan.
A new plan sees every earlier plan with its observations and the joiner's reason, continues the
task numbering, and may use earlier results as `$N`. After `max_replans` new plans the joiner
can only finish.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from guidance_engine.llmcompiler.answer_form import TEXT, answer_form, looked_up
from guidance_engine.llmcompiler.conversation import (
    Conversation,
    replan_turn,
    results_turn,
    shared_system,
    using,
)
from guidance_engine.llmcompiler.executor import TaskFetchingUnit
from guidance_engine.llmcompiler.joiner import FINISH, Decision, Joiner, format_history
from guidance_engine.llmcompiler.plan import PlanItem, Task, Thought
from guidance_engine.llmcompiler.plan_checks import PlanChecks
from guidance_engine.llmcompiler.planner import Planner, PlanRun
from guidance_engine.llmcompiler.run_events import (
    JoinEnded,
    JoinStarted,
    PlanEnded,
    PlanStarted,
    emit,
)
from guidance_engine.llmcompiler.settings import (
    check_count,
    check_limit,
    check_question,
    check_text,
    tool_table,
)
from guidance_engine.llmcompiler.tools import Tool
from guidance_engine.llmcompiler.trace import (
    AgentResult,
    JoinerRecord,
    PlanRecord,
    TaskRecord,
    Trace,
    reset_usage,
    use_usage,
)
from guidance_engine.llms import LLM


class LLMCompiler:
    """An LLMCompiler agent over `tools`; see the module docstring."""

    def __init__(
        self,
        tools: Sequence[Tool],
        llm: LLM | None = None,
        planner_examples: str = "",
        joiner_examples: str = "",
        max_replans: int = 2,
        stream: bool = True,
        max_concurrency: int | None = None,
        task_timeout: float | None = None,
        max_tasks: int = 10,
        planner_template: str | Path | None = None,
        joiner_template: str | Path | None = None,
        check_plans: bool = True,
        answer_forms: bool = True,
    ) -> None:
        self.tools = tool_table("LLMCompiler", tools)
        check_count("LLMCompiler", "max_replans", max_replans, least=0)
        check_count("LLMCompiler", "max_tasks", max_tasks, least=1)
        check_limit("LLMCompiler", "max_concurrency", max_concurrency, whole=True)
        check_limit("LLMCompiler", "task_timeout", task_timeout)
        check_text("LLMCompiler", "planner_examples", planner_examples)
        check_text("LLMCompiler", "joiner_examples", joiner_examples)
        tools = list(self.tools.values())
        self.max_replans = max_replans
        self.max_concurrency = max_concurrency
        self.task_timeout = task_timeout
        self.check_plans = check_plans  # refuse degenerate tasks (see plan_checks)
        self.answer_forms = answer_forms  # hold Finish to the question's form (answer_form)
        self.planner = Planner(tools, llm=llm, examples=planner_examples,
                               template=planner_template, max_tasks=max_tasks, stream=stream)
        self.joiner = Joiner(llm=llm, examples=joiner_examples, template=joiner_template)
        # One system text for every call of every question: the shared prefix (conversation).
        self.system = shared_system(tools, planner_examples, joiner_examples)

    def run(self, question: str) -> AgentResult:
        """`arun` from synchronous code (not inside a running event loop)."""
        return asyncio.run(self.arun(question))

    async def arun(self, question: str) -> AgentResult:
        check_question("LLMCompiler", question)
        trace = Trace(question)
        origin = time.perf_counter()

        def clock() -> float:
            return time.perf_counter() - origin

        token = use_usage(trace.usage)  # tools that call a model (math) add to this run
        try:
            answer = await self._rounds(question, trace, clock)
        finally:
            reset_usage(token)
        trace.latency = clock()
        return AgentResult(answer, trace)

    async def _rounds(self, question: str, trace: Trace, clock: Callable[[], float]) -> str | None:
        # Planner, joiner, replans and math all extend this one conversation (see conversation).
        conversation = Conversation(self.system, question=question)
        conversation.user(f"Question: {question}")
        first_index = 1
        previous: TaskFetchingUnit | None = None
        # A call made in one round is refused in the next; check_plans=False accepts every task.
        checks = PlanChecks(question, enabled=self.check_plans)
        with using(conversation):
            for round_ in range(self.max_replans + 1):
                unit = TaskFetchingUnit(self.tools, self.max_concurrency, self.task_timeout,
                                        clock=clock, plan=round_)
                if previous is not None:
                    unit.carry_over(previous)
                emit(PlanStarted(round_, clock()))
                items, records = await self._plan_and_execute(
                    question, unit, conversation, first_index, trace, clock, checks)
                results = format_history([(items, {i: r.observation
                                                    for i, r in records.items()})])
                decision = await self._join(question, conversation, trace, clock, round_,
                                            results)
                checks.add_context(results)  # a replan may name what the tasks found
                if decision.action == FINISH:
                    return decision.argument
                first_index = max([first_index - 1, *records]) + 1
                conversation.user(replan_turn(first_index))
                previous = unit
        return None

    async def _join(self, question: str, conversation: Conversation, trace: Trace,
                    clock: Callable[[], float], round_: int, results: str) -> Decision:
        """The joiner's decision on this round's results, added to the conversation."""
        emit(JoinStarted(round_, clock()))
        form = answer_form(question, looked_up(trace.tasks)) if self.answer_forms else TEXT
        conversation.user(results_turn(results, form.instruction()))
        decision = await self.joiner.decide(question, results,
                                            can_replan=round_ < self.max_replans, clock=clock,
                                            form=form, conversation=conversation)
        emit(JoinEnded(round_, decision.end, decision.action, decision.argument,
                       decision.thought, decision.start))
        self._record(trace, decision)
        conversation.assistant(f"Thought: {decision.thought}\nAction: {decision.action}"
                               f"({decision.argument})")
        return decision

    async def _plan_and_execute(
        self, question: str, unit: TaskFetchingUnit, conversation: Conversation,
        first_index: int, trace: Trace, clock: Callable[[], float], checks: PlanChecks,
    ) -> tuple[list[PlanItem], dict[int, TaskRecord]]:
        def deliver(item: PlanItem) -> None:
            if isinstance(item, Task):
                unit.submit(item)

        try:
            run = await self.planner.plan(question, deliver, "", first_index, clock, checks,
                                          conversation)
        except BaseException:
            unit.cancel()
            raise
        emit(PlanEnded(unit.plan, run.end, run.text, run.error, run.start))
        conversation.assistant(plan_text(run))
        records = await unit.wait()
        trace.usage.merge(run.usage)
        trace.plans.append(PlanRecord(run.text, run.start, run.end, list(records), run.error))
        trace.tasks.extend(records.values())
        return run.items, records

    @staticmethod
    def _record(trace: Trace, decision: Decision) -> None:
        trace.usage.merge(decision.usage)
        trace.joins.append(JoinerRecord(decision.thought, decision.action, decision.argument,
                                        decision.start, decision.end))


def plan_text(run: PlanRun) -> str:
    """The plan as the conversation keeps it: what the model wrote, or, when a line was refused
    or did not parse, the lines that were accepted."""
    if run.error is None:
        return run.text.strip()
    return "\n".join(f"Thought: {item.text}" if isinstance(item, Thought) else item.line
                     for item in run.items)
