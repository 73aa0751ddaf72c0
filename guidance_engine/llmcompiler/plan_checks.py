"""Plans worth running: the checks a planned task passes before the executor may start it.

The grammar already refuses what cannot run (and a written string that is only punctuation, or a
math problem without words). What it cannot see is the rest of the plan and the question, so the
planner asks `PlanChecks.refusal(task)` about each task as its line completes; a task is refused
when it

- repeats an earlier call of the run (same tool, same arguments, in this plan or an earlier one):
  its result is already there as `$N`;
- fetches nothing the question (or, in a replan, the earlier results) names: it writes words but
  has no `$N` and no word of two or more letters or digits that the question or the replan
  context contains (a call that writes no string, such as `now()`, is not checked for this);
- adds nothing to the earlier calls of its tool: it has no `$N`, and every question word it uses
  was already used by an earlier call of the same tool (`search("Everest")` after
  `search("Mount Everest")`), so the question has no fact left for it to fetch.

A refused task ends the plan there (the planner stops the model and records why)::

    >>> checks = PlanChecks("Which is taller, Mount Everest or K2?")
    >>> checks.refusal(parse_line('1. search("Mount Everest")')) is None
    True
    >>> checks.refusal(parse_line('2. search("Everest")')).partition(":")[0]
    'search("Everest") fetches nothing new'
"""

from __future__ import annotations

import re

from guidance_engine.llmcompiler.plan import Ref, Task, Value, parse_line  # noqa: F401 (doctest)

_WORD = re.compile(r"[^\W_]{2,}")
# Words every question has; a call that shares only these with the question names nothing in it.
_COMMON_TEXT = """
    the and for was were are is of in on at to by or an as be it its if what which who whom whose
    how many much more most less than then that this these those with from into after before both
    one two same does did do would will can could should has have had been being not no yes when
    where why all each other their there they them his her he she we you your our
"""
_COMMON = frozenset(_COMMON_TEXT.split())


def words(text: str) -> frozenset[str]:
    """The case-folded words of `text` (runs of two or more letters or digits), minus the common
    ones."""
    return frozenset(w for w in (m.casefold() for m in _WORD.findall(text)) if w not in _COMMON)


def _texts(value: Value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple):
        return [text for item in value for text in _texts(item)]
    return []


def _normal(value: Value) -> object:
    """An argument compared across calls: strings ignore case and spacing."""
    if isinstance(value, str):
        return " ".join(value.casefold().split())
    if isinstance(value, tuple):
        return tuple(_normal(item) for item in value)
    return value


class PlanChecks:
    """The tasks of one question's run so far, and the words they may draw on."""

    def __init__(self, question: str, enabled: bool = True) -> None:
        self.enabled = enabled
        self.known = words(question)
        self.calls: set[tuple[str, object]] = set()
        self.used: dict[str, set[str]] = {}

    def add_context(self, context: str) -> None:
        """A replan may also name what the earlier results said."""
        self.known |= words(context)

    def refusal(self, task: Task) -> str | None:
        """Why `task` must not run, or None; an accepted task is remembered."""
        if task.is_join or not self.enabled:
            return None
        call = task.line.partition(". ")[2] or task.line
        key = (task.tool, _normal(task.args))
        if key in self.calls:
            return f"{call} repeats an earlier call; its result is already there"
        texts = _texts(task.args)
        named = set().union(*(words(text) for text in texts)) & self.known
        if texts and not task.deps:  # a call without written words (`now()`) names no fact
            if not named:
                return (f"{call} fetches nothing the question names: it has no $N and no word "
                        "of the question")
            used = self.used.get(task.tool, set())
            if named <= used:
                return (f"{call} fetches nothing new: every word of the question it uses "
                        f"({', '.join(sorted(named))}) was used by an earlier {task.tool} call")
        self.calls.add(key)
        self.used.setdefault(task.tool, set()).update(named)
        return None
