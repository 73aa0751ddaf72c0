"""One shared prompt per question: every model call of an LLMCompiler run extends one prefix.

The system message holds everything that does not change within a benchmark (how to plan, how to
decide, how to compute, the tools and the examples), so it is the same for every call of every
question. The turns that follow are the question's conversation: the question, the plan, its
results, the decision, a request for a new plan, and so on. The planner, the joiner and each
replan send the system message and the turns so far and generate the next assistant turn, so
each call extends the previous one and a server (or a local KV cache) re-reads only what is
new. A math call sends the system message and the question, then its problem::

    conversation = Conversation(shared_system(tools, planner_examples, joiner_examples))
    conversation.user("Question: How tall is ...?")
    # planner -> conversation.assistant(plan); results -> conversation.user(...); joiner -> ...
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guidance_engine.llmcompiler.tools import Tool

PROMPTS = Path(__file__).parent / "prompts"


@dataclass
class Conversation:
    """The shared system text and the question's turns so far."""

    system: str
    turns: list[dict[str, Any]] = field(default_factory=list)
    question: str = ""

    def user(self, text: str) -> None:
        self.turns.append({"assistant": False, "text": text})

    def assistant(self, text: str) -> None:
        self.turns.append({"assistant": True, "text": text})

    def variables(self) -> dict[str, Any]:
        """What a template receives: `system` and a copy of `turns`."""
        return {"system": self.system, "turns": [dict(turn) for turn in self.turns]}


def _section(name: str) -> str:
    return (PROMPTS / f"{name}.txt").read_text(encoding="utf-8").strip()


def shared_system(tools: Sequence[Tool], planner_examples: str = "",
                  joiner_examples: str = "") -> str:
    """The system text every call of a run shares: planning, deciding, (math), the examples."""
    listed = [f"{i}. {tool.description}" for i, tool in enumerate(tools, 1)]
    listed.append(f"{len(tools) + 1}. join(): gathers the results of the actions before it and "
                  "either answers the question or asks for a new plan. It is always the last "
                  "action.")
    parts = [_section("shared_plan").replace("<<COUNT>>", str(len(tools) + 1))
             .replace("<<TOOLS>>", "\n".join(listed)), _section("shared_decide")]
    if any(tool.name == "math" for tool in tools):
        parts.append(_section("shared_math"))
    if planner_examples:
        parts.append(f"Plans (examples):\n\n{planner_examples}")
    if joiner_examples:
        parts.append(f"Decisions (examples):\n\n{joiner_examples}")
    return "\n\n".join(parts)


def results_turn(history: str, form_instruction: str = "") -> str:
    """The user turn after a plan ran: its results, the answer's form, what to write."""
    lines = [f"Results:\n{history}" if history else "Results: (no actions ran)"]
    if form_instruction:
        lines.append(form_instruction)
    lines.append("Decide: one Thought: line, then one Action: line.")
    return "\n\n".join(lines)


def replan_turn(first_index: int) -> str:
    """The user turn asking for a new plan after `Replan(...)`."""
    return (f"Write a new plan for what is still missing. Number its actions from {first_index}; "
            "the results above may be used as $N.")


_CURRENT: contextvars.ContextVar[Conversation | None] = contextvars.ContextVar(
    "llmcompiler_conversation", default=None)


def current_conversation() -> Conversation | None:
    """The conversation of the LLMCompiler run this call belongs to (math reads it)."""
    return _CURRENT.get()


@contextmanager
def using(conversation: Conversation | None) -> Any:
    token = _CURRENT.set(conversation)
    try:
        yield conversation
    finally:
        _CURRENT.reset(token)
