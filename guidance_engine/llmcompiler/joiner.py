"""The joiner: reads plans and observations, then chooses `Finish(answer)` or `Replan(reason)`.

The action is a `select` over the allowed actions (only `Finish` once no replan is left) and its
argument is a `gen` held to `[^\\n]*[)]` and ended by a newline; the final `)` is the action's
closing parenthesis and is removed, so answers that contain `)` or quotes come through intact::

    >>> format_history([([Task(1, "search", ("x",), 'search("x")')], {1: "It is 5 m."})])
    '1. search("x")\\nObservation: It is 5 m.'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from guidance_engine.llmcompiler.plan import PlanItem, Thought
from guidance_engine.llmcompiler.trace import TokenUsage
from guidance_engine.llms.base import LLM
from guidance_engine.runtime.program import Program, load

PROMPTS = Path(__file__).parent / "prompts"
FINISH = "Finish"
REPLAN = "Replan"


@dataclass
class Decision:
    """The joiner's output: a thought, `Finish` or `Replan`, and the answer or the reason."""

    thought: str
    action: str
    argument: str
    usage: TokenUsage = field(default_factory=TokenUsage)
    start: float = 0.0
    end: float = 0.0


def format_history(plans: Sequence[tuple[Sequence[PlanItem], Mapping[int, str]]]) -> str:
    """Each plan's task lines with their observations (join lines left out), plan after plan."""
    lines: list[str] = []
    for items, observations in plans:
        for item in items:
            if isinstance(item, Thought):
                lines.append(f"Thought: {item.text}")
            elif not item.is_join:
                lines.append(item.line)
                lines.append(f"Observation: {observations.get(item.index, '(no result)')}")
    return "\n".join(lines)


def strip_action(argument: str) -> str:
    """The answer inside `Finish(...)`: the gen's text without its closing parenthesis."""
    text = argument.strip()
    return text[:-1].rstrip() if text.endswith(")") else text


class Joiner:
    """Runs the joiner template; `await joiner.decide(question, history, can_replan)`."""

    def __init__(self, llm: LLM | None = None, examples: str = "",
                 template: str | Path | None = None) -> None:
        self.examples = examples
        self.program: Program = load(str(template or PROMPTS / "joiner.handlebars"), llm=llm,
                                     silent=True, log=True)

    async def decide(self, question: str, history: str, can_replan: bool,
                     clock: Callable[[], float] = time.perf_counter) -> Decision:
        start = clock()
        actions = [FINISH, REPLAN] if can_replan else [FINISH]
        out = await self.program(question=question, context=history, examples=self.examples,
                                 actions=actions, async_mode=True)
        decision = Decision(str(out["thought"]).strip(), str(out["action"]),
                            strip_action(str(out["argument"])), start=start, end=clock())
        decision.usage.add_log(out.log)
        return decision
