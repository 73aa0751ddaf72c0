"""Checks on what a user hands an agent (tools, limits, examples, the question) before it runs.

A wrong setting would otherwise surface late and far away: a negative `max_replans` answers
None without asking the model, two tools with one name break the plan grammar at the first
question, a list of examples is printed into the prompt as a Python list. Each check raises a
`GuidanceError` naming the agent, the setting, what was expected and what was found::

    >>> check_count("LLMCompiler", "max_replans", -1, least=0)
    Traceback (most recent call last):
    GuidanceError: LLMCompiler: max_replans must be a whole number >= 0; found -1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler.tools import Tool


def tool_table(agent: str, tools: Sequence[Tool]) -> dict[str, Tool]:
    """`tools` by name: at least one, every one a `Tool`, no name twice."""
    if isinstance(tools, Tool | str) or not isinstance(tools, Sequence):
        raise GuidanceError(f"{agent}: tools must be a list of Tool objects; "
                            f"found {_kind(tools)}")
    table: dict[str, Tool] = {}
    for tool in tools:
        if not isinstance(tool, Tool):
            raise GuidanceError(f"{agent}: tools must be Tool objects; found {_kind(tool)} "
                                "(wrap a function with Tool.from_function)")
        if tool.name in table:
            raise GuidanceError(f"{agent}: two tools are named {tool.name!r}; "
                                "expected unique names")
        table[tool.name] = tool
    if not table:
        raise GuidanceError(f"{agent} needs at least one tool; found none")
    return table


def check_count(agent: str, name: str, value: Any, least: int) -> None:
    """`value` is a whole number no smaller than `least`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise GuidanceError(f"{agent}: {name} must be a whole number >= {least}; "
                            f"found {value!r}")


def check_limit(agent: str, name: str, value: Any, whole: bool = False) -> None:
    """`value` is None (no limit) or a positive number (a whole one if `whole`)."""
    kinds = (int,) if whole else (int, float)
    if value is None or (isinstance(value, kinds) and not isinstance(value, bool) and value > 0):
        return
    what = "a whole number" if whole else "a number of seconds"
    raise GuidanceError(f"{agent}: {name} must be None (no limit) or {what} > 0; "
                        f"found {value!r}")


def check_text(agent: str, name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise GuidanceError(f"{agent}: {name} must be text (a str); found {_kind(value)}")


def check_question(agent: str, question: Any) -> None:
    """The question is non-blank text: an empty one would run the model on nothing."""
    if not isinstance(question, str) or not question.strip():
        raise GuidanceError(f"{agent}: the question must be non-empty text; "
                            f"found {question!r:.60}")


def _kind(value: Any) -> str:
    return "None" if value is None else f"a {type(value).__name__}"
