"""The ReAct baseline: Thought / Action / Observation, one tool call per model turn.

Same tools, model and docstore as `LLMCompiler`, so the comparison is like for like. Each turn
re-runs the ReAct template with the scratchpad so far; the action is a gen held to one call of a
known tool with constant arguments, or `Finish(answer)`. A ReAct agent cannot write `$N`, so a
tool named in `context_tools` (by default `math`) is offered without its optional arguments and
gets the observations so far as its context: it cannot compute from facts it has not looked up.

On a chat model (`turns.chat_turns`) the scratchpad goes into the user's message after the
question (a transcript like the examples'; as separate assistant/user messages SmolLM2 repeated
its first call instead of finishing), and the new turn is one gen held to
`Thought: <line>\nAction: <call or Finish(...)>`, parsed by `turns.parse_turn`::

    agent = ReAct([search_tool, math_tool], llm=llm, examples=EXAMPLES)
    result = await agent.arun("Which is longer, the Nile or the Amazon?")
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from guidance_engine import Program, load
from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler.answer_form import TEXT, AnswerForm, answer_form, looked_up
from guidance_engine.llmcompiler.joiner import strip_action
from guidance_engine.llmcompiler.math_tool import MATH_REACT_DESCRIPTION
from guidance_engine.llmcompiler.plan import PlanSyntaxError, Task, parse_line
from guidance_engine.llmcompiler.plan_grammar import call_grammar, call_rules
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
    ReactStep,
    TokenUsage,
    Trace,
    reset_usage,
    use_usage,
)
from guidance_engine.llmcompiler.turns import (
    Turn,
    chat_turns,
    enforced_grammar,
    parse_turn,
    turn_grammar,
    turn_tokens,
)
from guidance_engine.llms import LLM

PROMPTS = Path(__file__).parent / "prompts"
FINISH = "Finish("
CONTEXT_TOOLS = {"math": MATH_REACT_DESCRIPTION}


class ReAct:
    """A ReAct agent over `tools`; see the module docstring."""

    def __init__(
        self,
        tools: Sequence[Tool],
        llm: LLM | None = None,
        examples: str = "",
        max_iterations: int = 10,
        task_timeout: float | None = None,
        template: str | Path | None = None,
        context_tools: Mapping[str, str] = CONTEXT_TOOLS,
        action_tokens: int = 120,
        answer_forms: bool = True,
    ) -> None:
        self.llm = llm
        self.tools = tool_table("ReAct", tools)
        if FINISH[:-1] in self.tools:
            raise GuidanceError("ReAct: a tool named 'Finish' would be read as the final answer; "
                                "expected another name")
        check_count("ReAct", "max_iterations", max_iterations, least=1)
        check_limit("ReAct", "task_timeout", task_timeout)
        check_text("ReAct", "examples", examples)
        tools = list(self.tools.values())
        self.context_tools = {name: shown for name, shown in context_tools.items()
                              if name in self.tools}
        self.examples = examples
        self.max_iterations = max_iterations
        self.action_tokens = action_tokens  # a longer action is cut and becomes an error
        self.task_timeout = task_timeout
        self.shown = [self._offered(tool) for tool in tools]
        self.answer_forms = answer_forms  # hold Finish to the question's form, as the joiner
        self.program: Program = load(str(template or PROMPTS / "react.handlebars"), llm=llm,
                                     silent=True, log=True)

    def action_grammar(self, form: AnswerForm = TEXT) -> str:
        """The grammar of one action (completion endpoints): a tool call or Finish(<form>)."""
        return call_grammar(self.shown, answer=form.lark())

    def chat_turn_grammar(self, form: AnswerForm = TEXT) -> str:
        """The grammar of one chat turn: a Thought line, then an action as above."""
        return turn_grammar("call_1 | finish", call_rules(self.shown, answer=form.lark()))

    def run(self, question: str) -> AgentResult:
        return asyncio.run(self.arun(question))

    async def arun(self, question: str) -> AgentResult:
        check_question("ReAct", question)
        trace = Trace(question)
        origin = time.perf_counter()
        token = use_usage(trace.usage)
        try:
            answer = await self._loop(question, trace, lambda: time.perf_counter() - origin)
        finally:
            reset_usage(token)
        trace.latency = time.perf_counter() - origin
        return AgentResult(answer, trace)

    async def _loop(self, question: str, trace: Trace,
                    clock: Callable[[], float]) -> str | None:
        observations: list[str] = []
        for _ in range(self.max_iterations):
            start = clock()
            turn = await self._turn(question, trace.steps, trace.usage)
            if turn.action.startswith(FINISH):
                trace.steps.append(ReactStep(turn.thought, turn.action, "", start, clock()))
                return strip_action(turn.action[len(FINISH):])
            observation = await self._act(turn.action, observations)
            observations.append(observation)
            trace.steps.append(ReactStep(turn.thought, turn.action, observation, start, clock()))
        return None

    def _offered(self, tool: Tool) -> Tool:
        """The tool as ReAct sees it: a context tool loses its optional arguments."""
        if tool.name not in self.context_tools:
            return tool
        required = tuple(arg for arg in tool.args if arg.required)
        return replace(tool, args=required, description=self.context_tools[tool.name])

    async def _turn(self, question: str, steps: Sequence[ReactStep],
                    usage: TokenUsage) -> Turn:
        """The model's next thought and action, through the template its endpoint can run."""
        form = self.form(question, steps)
        variables = {"question": question, "examples": self.examples,
                     "tools": [tool.description for tool in self.shown],
                     "form": form.instruction()}
        if chat_turns(self.llm):
            grammar = self.chat_turn_grammar(form)
            out = await self.program(
                **variables, chat=True, max_tokens=turn_tokens(self.action_tokens),
                steps=[{"thought": s.thought, "action": s.action, "observation": s.observation}
                       for s in steps],
                grammar=enforced_grammar(self.llm, grammar), async_mode=True)
            usage.add_log(out.log)
            expected = f"a call of {', '.join(self.tools)} or Finish(<answer>)"
            return parse_turn(str(out["turn"]), "ReAct", expected)
        scratchpad = "".join(f"Thought: {s.thought}\nAction: {s.action}\n"
                             f"Observation: {s.observation}\n" for s in steps)
        out = await self.program(**variables, chat=False, steps=[], scratchpad=scratchpad,
                                 grammar=self.action_grammar(form),
                                 action_tokens=self.action_tokens, async_mode=True)
        usage.add_log(out.log)
        return Turn(str(out["thought"]).strip(), str(out["action"]).strip())

    def form(self, question: str, steps: Sequence[ReactStep]) -> AnswerForm:
        """The question's answer form, with the names looked up so far (see answer_form)."""
        if not self.answer_forms:
            return TEXT
        calls = []
        for step in steps:
            try:
                calls.append(parse_line(f"1. {step.action}"))
            except PlanSyntaxError:
                continue
        return answer_form(question, looked_up(calls))

    async def _act(self, action: str, observations: list[str]) -> str:
        try:
            task = parse_line(f"1. {action}")
        except PlanSyntaxError as error:
            return f"Error: {error}"
        if not isinstance(task, Task) or task.tool not in self.tools:
            return f"Error: {action!r} is not a call of one of {', '.join(self.tools)}"
        tool = self.tools[task.tool]
        args = [list(arg) if isinstance(arg, tuple) else arg for arg in task.args]
        if tool.name in self.context_tools:
            args.append(list(observations))
        try:
            result = await asyncio.wait_for(tool.call(args), self.task_timeout)
        except TimeoutError:
            return f"Error: {tool.name} timed out after {self.task_timeout} s"
        except Exception as error:  # a failing tool is an observation, as in LLMCompiler
            return f"Error: {type(error).__name__}: {error}"
        return str(result)
