"""The planner: a template whose grammar-constrained `plan` gen is parsed while it streams.

The planner program runs through `Program.events`; every `GenChunk` of the `plan` gen is fed to a
`PlanStream`, and each task is handed to `deliver` the moment its line is complete, so the task
fetching unit can start it while the model is still writing the next line. With `stream=False`
the whole plan is generated first and then delivered at once (the baseline for measuring what
streaming buys). A server that enforces no grammar (OpenAI, Azure) gets the plan gen
unconstrained; a line that does not parse is then recorded as the run's error::

    planner = Planner(tools, llm=llm, examples=EXAMPLES)
    run = await planner.plan("How tall is ...?", deliver=unit.submit_item)
    run.text        # '1. search("...")\\n2. join()'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from guidance_engine import Program, load
from guidance_engine import events as ev
from guidance_engine.errors import IncompleteOutputError
from guidance_engine.llmcompiler.conversation import Conversation, shared_system
from guidance_engine.llmcompiler.plan import PlanItem, PlanStream, PlanSyntaxError, Task
from guidance_engine.llmcompiler.plan_checks import PlanChecks
from guidance_engine.llmcompiler.plan_grammar import plan_grammar
from guidance_engine.llmcompiler.run_events import PlanText, emit
from guidance_engine.llmcompiler.tools import Tool
from guidance_engine.llmcompiler.trace import TokenUsage
from guidance_engine.llmcompiler.turns import enforced_grammar
from guidance_engine.llms import LLM

PROMPTS = Path(__file__).parent / "prompts"


@dataclass
class PlanRun:
    """One planner call: the plan text, what was parsed from it, and its token usage."""

    text: str = ""
    items: list[PlanItem] = field(default_factory=list)
    error: str | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    start: float = 0.0
    end: float = 0.0

    @property
    def tasks(self) -> list[Task]:
        return [item for item in self.items if isinstance(item, Task)]


class Planner:
    """Runs the planner template; see the module docstring."""

    def __init__(
        self,
        tools: Sequence[Tool],
        llm: LLM | None = None,
        examples: str = "",
        template: str | Path | None = None,
        max_tasks: int = 10,
        max_tokens: int = 1024,
        temperature: float = 0.0,
        stream: bool = True,
        seed: int | None = None,
        max_chars: int = 100,
        max_list: int = 6,
    ) -> None:
        self.llm = llm
        self.tools = list(tools)
        self.examples = examples
        self.max_tasks = max_tasks
        self.seed = seed
        self.limits = {"max_tasks": max_tasks, "max_chars": max_chars, "max_list": max_list}
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.stream = stream
        self.program: Program = load(str(template or PROMPTS / "planner.handlebars"), llm=llm,
                                     silent=True, log=True)

    def conversation(self, question: str, context: str = "") -> Conversation:
        """A one-turn conversation for a plan made outside an agent's run."""
        conversation = Conversation(shared_system(self.tools, self.examples), question=question)
        conversation.user(f"Question: {question}" + (f"\n\n{context}" if context else ""))
        return conversation

    def variables(
        self, question: str, context: str = "", first_index: int = 1, samples: int = 1,
        conversation: Conversation | None = None,
    ) -> dict[str, object]:
        """What the template receives; `samples > 1` makes `plan` a list (tests sample plans).
        The prompt is `conversation` (the run's shared prefix and turns), else the question and
        `context` after this planner's own system text."""
        conversation = conversation or self.conversation(question, context)
        return {
            **conversation.variables(),
            "samples": samples,
            "grammar": enforced_grammar(self.llm,
                                        plan_grammar(self.tools, first_index, **self.limits)),
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
        }

    async def plan(
        self,
        question: str,
        deliver: Callable[[PlanItem], None],
        context: str = "",
        first_index: int = 1,
        clock: Callable[[], float] = time.perf_counter,
        checks: PlanChecks | None = None,
        conversation: Conversation | None = None,
    ) -> PlanRun:
        """Generate a plan, handing each parsed task or thought to `deliver` as it completes.

        A task that `checks` refuses (see `plan_checks`) is not delivered: the plan ends there,
        the model is stopped, and `run.error` says why."""
        run = PlanRun(start=clock())
        stream = PlanStream()
        variables = self.variables(question, context, first_index, conversation=conversation)
        if checks is None:
            checks = PlanChecks(question)
        checks.add_context(context)

        def take(items: list[PlanItem]) -> None:
            for item in items:
                if run.error is not None:
                    return
                if isinstance(item, Task) and (reason := checks.refusal(item)):
                    run.error = f"task {item.index} refused: {reason}"
                    return
                run.items.append(item)
                deliver(item)

        def feed(text: str) -> bool:
            """False once the plan is over (a syntax error or a refused task)."""
            emit(PlanText(text, clock()))
            if run.error is None:
                try:
                    take(stream.feed(text))
                except PlanSyntaxError as error:
                    run.error = str(error)
            return run.error is None

        try:
            out = await self._generate(variables, feed)
        except IncompleteOutputError as error:
            # max_tokens came before join(): the complete lines already went to the executor.
            run.error = run.error or str(error)
            run.text, run.end = stream.text, clock()
            return run
        if run.error is None:
            try:
                take(stream.close())
            except PlanSyntaxError as error:
                run.error = str(error)
        run.text = stream.text if out.interrupted else str(out["plan"])
        run.usage.add_log(out.log)
        run.end = clock()
        return run

    async def _generate(self, variables: dict[str, object],
                        feed: Callable[[str], bool]) -> Program:
        """The executed planner program; the plan text goes to `feed` (live when streaming).
        When `feed` says the plan is over, the model is stopped (the program is interrupted)."""
        if not self.stream:
            out: Program = await self.program(async_mode=True, **variables)
            feed(str(out["plan"]))
            return out
        events = self.program.events(**variables)
        async for event in events:
            if isinstance(event, ev.GenChunk) and event.name == "plan" and event.index == 0:
                if not feed(event.text):
                    events.stop("the plan was refused")
            elif isinstance(event, (ev.Finished, ev.Interrupted)):
                return event.program
        raise RuntimeError("the planner's event stream ended without Finished")
