"""The joiner: reads plans and observations, then chooses `Finish(answer)` or `Replan(reason)`.

On a completion model the action is a `select` over the allowed actions (only `Finish` once no
replan is left) and its argument is a `gen` held to `[^\\n]*[)]` and ended by a newline; the
final `)` is the action's closing parenthesis and is removed, so answers that contain `)` or
quotes come through intact. On a chat model (`turns.chat_turns`) the whole turn is one gen held
by `joiner_grammar` to the same shape, and `parse_decision` reads it the same way::

    >>> from guidance_engine.llmcompiler.plan import Task
    >>> format_history([([Task(1, "search", ("x",), '1. search("x")')], {1: "It is 5 m."})])
    '1. search("x")\\nObservation: It is 5 m.'
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from guidance_engine import Program, load
from guidance_engine.llmcompiler.answer_form import TEXT, AnswerForm
from guidance_engine.llmcompiler.conversation import PROMPTS as SECTIONS
from guidance_engine.llmcompiler.conversation import Conversation
from guidance_engine.llmcompiler.plan import PlanItem, Thought
from guidance_engine.llmcompiler.trace import TokenUsage
from guidance_engine.llmcompiler.turns import (
    TurnFormatError,
    chat_turns,
    enforced_grammar,
    parse_turn,
    shorten,
    turn_grammar,
    turn_tokens,
)
from guidance_engine.llms import LLM

PROMPTS = Path(__file__).parent / "prompts"
FINISH = "Finish"
REPLAN = "Replan"
#: Longest answer or reason the chat turn grammar allows.
ARGUMENT_CHARS = 200
_FRAME = 8  # tokens of "Finish(" and ")": with them any answer the grammar allows fits
_DECISION = re.compile(r"(?P<action>Finish|Replan)\((?P<argument>[^\n]*)")


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


def joiner_grammar(can_replan: bool, form: AnswerForm = TEXT) -> str:
    """Lark text for a whole joiner turn: a thought, then `Finish(...)` (or `Replan(...)`);
    the answer inside `Finish(...)` has the question's form.

        >>> print(joiner_grammar(False).splitlines()[-1])
        FINISH: "Finish(" /[^\n]{0,200}/ ")"
        >>> print(joiner_grammar(False, AnswerForm("yes_no")).splitlines()[-1])
        FINISH: "Finish(" ("yes" | "no") ")"
    """
    rules = [f'FINISH: "Finish(" {form.lark()} ")"']
    if can_replan:
        rules.insert(0, f"REPLAN: /Replan\\([^\\n]{{0,{ARGUMENT_CHARS}}}\\)/")
    actions = [FINISH, REPLAN] if can_replan else [FINISH]
    return turn_grammar(" | ".join(a.upper() for a in actions), rules)


def parse_decision(text: str, can_replan: bool) -> tuple[str, str, str]:
    """(thought, action, argument) of a whole joiner turn; `TurnFormatError` if malformed.

    As in the completion path, only the final `)` is removed, and an answer cut at max_tokens
    before its `)` is kept as it is.

        >>> parse_decision('Thought: Found it.\\nAction: Finish(The "Big" One (north))', True)
        ('Found it.', 'Finish', 'The "Big" One (north)')
    """
    expected = "Finish(<answer>) or Replan(<reason>)" if can_replan else \
        "Finish(<answer>) (no replan is left)"
    turn = parse_turn(text, "the joiner", expected)
    match = _DECISION.fullmatch(turn.action)
    if match is None or (match["action"] == REPLAN and not can_replan):
        raise TurnFormatError(f"the joiner's action must be {expected}; found "
                              f"{shorten(turn.action)!r}")
    return turn.thought, match["action"], strip_action(match["argument"])


class Joiner:
    """Runs the joiner template; `await joiner.decide(question, history, can_replan)`.

    One template serves both paths: with `chat` set, its assistant turn is one gen named `turn`,
    constrained by the `grammar` variable; otherwise a thought gen, a select and an argument gen.
    """

    def __init__(self, llm: LLM | None = None, examples: str = "",
                 template: str | Path | None = None) -> None:
        self.llm = llm
        self.examples = examples
        self.program: Program = load(str(template or PROMPTS / "joiner.handlebars"), llm=llm,
                                     silent=True, log=True)

    def conversation(self, question: str, history: str, form: AnswerForm) -> Conversation:
        """A one-turn conversation for a decision made outside an agent's run."""
        system = (SECTIONS / "shared_decide.txt").read_text(encoding="utf-8").strip()
        if self.examples:
            system += f"\n\n{self.examples}"
        text = f"Question: {question}\n\n{history}"
        if form.instruction():
            text += f"\n\n{form.instruction()}"
        conversation = Conversation(system, question=question)
        conversation.user(text)
        return conversation

    async def decide(self, question: str, history: str, can_replan: bool,
                     clock: Callable[[], float] = time.perf_counter,
                     form: AnswerForm = TEXT,
                     conversation: Conversation | None = None) -> Decision:
        """Finish or Replan; a Finish answer has `form` (told, and held by the constraint).

        The prompt is `conversation` (an agent's run: its last user turn holds the results and
        the form), else the question, `history` and the form after the joiner's own system text.
        """
        start = clock()
        conversation = conversation or self.conversation(question, history, form)
        variables = conversation.variables()
        if chat_turns(self.llm):
            grammar = enforced_grammar(self.llm, joiner_grammar(can_replan, form))
            out = await self.program(**variables, chat=True, grammar=grammar,
                                     max_tokens=turn_tokens(ARGUMENT_CHARS + _FRAME),
                                     async_mode=True)
            thought, action, argument = parse_decision(str(out["turn"]), can_replan)
        else:
            actions = [FINISH, REPLAN] if can_replan else [FINISH]
            out = await self.program(**variables, chat=False, actions=actions,
                                     answer_options=form.select_options(),
                                     answer_pattern=form.pattern(), async_mode=True)
            thought, action = str(out["thought"]).strip(), str(out["action"])
            answer = out.get("answer")
            argument = str(answer) if answer is not None and action == FINISH else \
                strip_action(str(out["argument"]))
        decision = Decision(thought, action, argument, start=start, end=clock())
        decision.usage.add_log(out.log)
        return decision
