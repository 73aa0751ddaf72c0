"""Whole assistant turns for chat endpoints: the path choice, the turn grammar, and its parsing.

A chat API writes the assistant's message in one go, so a template cannot put fixed text, a
`select` and a second `gen` inside one assistant turn there. On a model in chat mode the joiner
and ReAct therefore write their whole turn as one gen, held to the shape their completion
templates produce (`Thought: <line>` then `Action: <action>`), and this module parses it back::

    >>> parse_turn("Thought: Both found.\\nAction: Finish(5 m (16 ft))", "the joiner", "...")
    Turn(thought='Both found.', action='Finish(5 m (16 ft))')

`chat_turns(llm)` is the one place that picks the path. `enforced_grammar(llm, grammar)` keeps a
constraint only where the backend enforces grammars (local models, llama.cpp, vLLM); elsewhere
(OpenAI, Azure, Friendli) the gen is unconstrained and the parsers check the text instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import guidance_engine
from guidance_engine.errors import GuidanceError
from guidance_engine.llms import LLM

#: Longest thought line the turn grammar allows (the completion templates stop it at 120 tokens).
THOUGHT_CHARS = 300
#: Tokens of the fixed text around the thought and the action ("Thought: ", "\nAction: ", "\n").
_FRAME_TOKENS = 8
_TURN = re.compile(r"Thought: ?(?P<thought>[^\n]*)\nAction: ?(?P<action>[^\n]*)")


class TurnFormatError(GuidanceError):
    """A model's turn does not have the shape its agent expects (says what was found)."""


@dataclass(frozen=True)
class Turn:
    """One assistant turn: its thought and its action text (`Finish(...)`, a call, ...)."""

    thought: str
    action: str


def chat_turns(llm: LLM | None) -> bool:
    """Whether `llm` (None: the default model) writes whole assistant turns: a chat API."""
    model = guidance_engine.default_llm(llm)
    return model is not None and model.capabilities.chat_api


def enforced_grammar(llm: LLM | None, grammar: str) -> str | None:
    """`grammar` when `llm` enforces grammars while decoding, else None (no constraint)."""
    model = guidance_engine.default_llm(llm)
    if model is None:
        return grammar  # no model yet: the program reports that itself
    return grammar if "grammar" in model.capabilities.constraint_kinds else None


def turn_tokens(action_tokens: int) -> int:
    """max_tokens for a whole turn: the longest thought the grammar allows, then `action_tokens`
    for the action (a longer action is cut, as in the completion templates)."""
    return THOUGHT_CHARS + _FRAME_TOKENS + action_tokens


def turn_grammar(action: str, rules: Sequence[str] = ()) -> str:
    """Lark text for `Thought: <line>\\nAction: <action>`; `rules` define what `action` uses.

    The turn may end with a newline, after which only the end of the turn is allowed: that is
    where the completion templates' `stop='\\n'` ends the action (without it, a model that
    wants a newline after `Finish(x)` would have to keep writing inside the parentheses).

        >>> print(turn_grammar('/Finish\\\\([^\\\\n]*\\\\)/'))
        start: "Thought: " THOUGHT "\\nAction: " action "\\n"?
        THOUGHT: /[^\\n]{1,300}/
        action: /Finish\\([^\\n]*\\)/
    """
    lines = ['start: "Thought: " THOUGHT "\\nAction: " action "\\n"?',
             f"THOUGHT: /[^\\n]{{1,{THOUGHT_CHARS}}}/", f"action: {action}", *rules]
    return "\n".join(lines)


def parse_turn(text: str, who: str, expected: str) -> Turn:
    """The thought and action of `who`'s turn; `TurnFormatError` names what was found instead.

    `expected` describes the action in the error message (for example `Finish(<answer>)`).
    """
    match = _TURN.fullmatch(text.strip())
    if match is None:
        raise TurnFormatError(
            f"{who}'s turn must be 'Thought: <one line>' then 'Action: {expected}' on the next "
            f"line; found {shorten(text)!r}"
        )
    return Turn(match["thought"].strip(), match["action"].strip())


def shorten(text: str, limit: int = 120) -> str:
    """`text` cut to `limit` characters for an error message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
