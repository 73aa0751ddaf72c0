"""What form of answer a question asks for, and the constraint that holds an answer to it.

The joiner and ReAct are told the form and held to it when they finish: `yes`/`no`, one of the
options the question lists, one of the entities it names (the ones it asks to choose between, or
the ones the agent looked up that the question names), a number, or free text. The rules read
the question only (never an answer)::

    >>> answer_form("Are Ferocactus and Silene both types of plant?").kind
    'yes_no'
    >>> answer_form("Which band, Letters to Cleo or Screaming Trees, had more members?").options
    ('Letters to Cleo', 'Screaming Trees')
    >>> answer_form("If the Nile were 10% longer, which river is longer?",
    ...             looked_up=["Nile", "amazon"]).kind
    'text'
    >>> answer_form("What is the ratio of the Nile's length to the Amazon's?").kind
    'number'

The rules were written on the even-numbered half of the shared questions of each subset;
`benchmarks/bench_answer_form.py` reports how often the expected answer has the decided form on
the odd-numbered half.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

FormKind = Literal["yes_no", "choice", "number", "text"]
NUMBER_PATTERN = r"-?[0-9][0-9,]{0,14}(\.[0-9]{1,6})?"
_AUXILIARY_TEXT = "am is are was were do does did can could has have had will would shall should"
_AUXILIARY = frozenset(_AUXILIARY_TEXT.split())
_WHICH = re.compile(r"\b(which|who|whom|whose)\b", re.IGNORECASE)
_WHICH_VALUE = re.compile(r"\bwhich (value|number|ratio|amount|result|figure|percentage)\b",
                          re.IGNORECASE)
_SHARED = re.compile(r"\b(both|in common|shared?|same)\b", re.IGNORECASE)
_NUMERIC = re.compile(
    r"\bhow (many|much|tall|high|long|deep|far|big|large|old|fast|wide|heavy)\b|\b(ratio|average|"
    r"mean|sum|total|combined|difference|percentage|percent|product|quotient)\b|\bwhat (is|would "
    r"be|will be) the (new |resulting |adjusted |combined )?(height|length|area|population|depth|"
    r"size|speed|value|number|distance|elevation|volume|mass|weight)\b", re.IGNORECASE)
_LEAD_IN = re.compile(r"\s(?:with|by|than|from|in|to|for|as|at|on|like|about|is|was|are|were|be)"
                      r"\s", re.IGNORECASE)
_OPTIONS = re.compile(r"\bOptions:\s*\n(?P<lines>(?:[^\n]*\S[^\n]*(?:\n|$))+)", re.IGNORECASE)
_ALTERNATIVES = re.compile(r"(?:^|[,:;]\s*|\bbetween\s+)(?P<span>[^,:;?]+?\s+or\s+[^,:;?]+?)"
                           r"\s*(?=[,;?]|$)", re.IGNORECASE)


@dataclass(frozen=True)
class AnswerForm:
    """The kind of answer and, for a choice, the allowed answers (as the question writes them)."""

    kind: FormKind
    options: tuple[str, ...] = ()

    def instruction(self) -> str:
        """One line telling the model what Finish(...) must hold ("" for free text)."""
        if self.kind == "yes_no":
            return "The question asks yes or no: finish with Finish(yes) or Finish(no)."
        if self.kind == "choice":
            listed = "; ".join(self.options)
            return f"The answer is one of: {listed}. Finish with exactly one of them."
        if self.kind == "number":
            return "The answer is a number: finish with the number alone, without units."
        return ""

    def pattern(self) -> str:
        """A regex for the Finish argument including its closing `)` (completion templates)."""
        if self.kind == "number":
            return NUMBER_PATTERN + r"\)"
        return "[^\n]*[)]"  # any one line; the final `)` closes Finish(

    def select_options(self) -> list[str]:
        """The answers a `select` offers (empty: the answer is a gen held by `pattern`)."""
        if self.kind == "yes_no":
            return ["yes", "no"]
        return list(self.options)

    def lark(self) -> str:
        """The Finish argument as a Lark expression (chat turn and ReAct action grammars)."""
        options = self.select_options()
        if options:
            return "(" + " | ".join(json.dumps(option) for option in options) + ")"
        if self.kind == "number":
            return f"/{NUMBER_PATTERN}/"
        return "/[^\\n]{0,200}/"


TEXT = AnswerForm("text")


def answer_form(question: str, looked_up: Iterable[str] = ()) -> AnswerForm:
    """The form `question` asks for; `looked_up` are names the agent searched (for a "which"
    question that lists no alternatives, the ones the question names become the options)."""
    if options := listed_options(question):
        return AnswerForm("choice", options)
    first = question.strip().split(maxsplit=1)[0].casefold() if question.strip() else ""
    alternatives = named_alternatives(question)
    if first in _AUXILIARY:  # "Are both ...?" asks yes or no; "Did X sing with Y or Z?" a choice
        return AnswerForm("choice", alternatives) if alternatives else AnswerForm("yes_no")
    if _WHICH_VALUE.search(question):
        return AnswerForm("number")
    if _WHICH.search(question):
        if alternatives:
            return AnswerForm("choice", alternatives)
        named = named_in(question, looked_up)
        if len(named) >= 2 and not _SHARED.search(question):
            return AnswerForm("choice", named)
        return TEXT  # "which company made both X and Y?" asks for a third name
    if _NUMERIC.search(question):
        return AnswerForm("number")
    return TEXT


def listed_options(question: str) -> tuple[str, ...]:
    """The lines after `Options:` (one option per line)."""
    match = _OPTIONS.search(question)
    if match is None:
        return ()
    lines = [line.strip() for line in match["lines"].splitlines() if line.strip()]
    return tuple(dict.fromkeys(lines)) if len(lines) >= 2 else ()


def named_alternatives(question: str) -> tuple[str, ...]:
    """`X or Y` (or `X, Y or Z`) as the question writes it, between commas, a colon or `?`."""
    for match in _ALTERNATIVES.finditer(question):
        parts = re.split(r"\s*,\s*|\s+or\s+", match["span"].strip())
        parts = [_trim(part) for part in parts if part.strip()]
        if match.start("span") == 0 and parts:  # "Did X sing with A or B?": A starts after "with"
            parts[0] = _LEAD_IN.split(parts[0])[-1]
        if len(parts) >= 2 and all(0 < len(part.split()) <= 8 for part in parts) and not any(
                _WHICH.search(part) for part in parts):
            return tuple(parts)
    return ()


def named_in(question: str, looked_up: Iterable[str]) -> tuple[str, ...]:
    """Each looked-up name the question contains, written as in the question; a name found only
    inside a longer one ("Sahara" in "Sahara Desert") is left out."""
    spans: list[tuple[int, int]] = []
    for name in looked_up:
        name = name.strip()
        pattern = rf"(?<!\bwhich )(?<!\bwhat )\b{re.escape(name)}\b"  # not "which river"
        match = re.search(pattern, question, re.IGNORECASE) if name else None
        if match:
            spans.append(match.span())
    kept = sorted({(a, b) for a, b in spans
                   if not any(c <= a and b <= d and (c, d) != (a, b) for c, d in spans)})
    return tuple(dict.fromkeys(question[a:b] for a, b in kept))


def _trim(part: str) -> str:
    """An alternative without a leading `either`/`the` and surrounding space."""
    part = re.sub(r"^(either|both)\s+", "", part.strip(), flags=re.IGNORECASE)
    return part.strip()


def looked_up(calls: Iterable[Any]) -> list[str]:
    """The written string arguments of the calls so far (objects with `args`): the names the
    agent looked up, for `answer_form`."""
    return [arg for call in calls for arg in getattr(call, "args", ())
            if isinstance(arg, str) and "$" not in arg and len(arg.split()) <= 8]
