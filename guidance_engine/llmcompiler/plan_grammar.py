"""The plan grammar, built from the registered tools, so that every sampled plan parses.

The grammar (llguidance's Lark dialect) is unrolled over task numbers: line k may only be
`k. tool(...)` or `k. join()`, a tool's arguments have the kinds the tool declares (required ones
first, optional ones may be left out at the end), and `$N` (bare, or inside a string) may only
name a task before k. The plan ends right after `join()`, and its size is bounded (at most
`max_tasks` tasks, strings and thoughts of bounded length, lists of at most `max_list` items), so
a plan can neither run on forever nor refer to a task that comes later::

    >>> grammar = plan_grammar([Tool("search", "search(query)", (Arg("query"),), print)])
    >>> 'plan_1: thought? ("1. " call_1 "\\n" plan_2 | "1. join()")' in grammar
    True

Replans continue the numbering: `plan_grammar(tools, first_index=4)` starts at `4.`, and
`$1`..`$3` (the earlier plans' tasks) stay usable.
"""

from __future__ import annotations

from collections.abc import Sequence

from guidance_engine.llmcompiler.tools import Arg, Tool

_CHAR = r'[^"\\$\n\x00-\x1f]|\\["\\nt]'  # a string character other than `$`, or an escape
_NOT_DIGIT = r'[^"\\$\n\x00-\x1f0-9]|\\["\\nt]'  # what may directly follow `$N` in a string
_NUMBER = r"/-?(0|[1-9][0-9]{0,11})(\.[0-9]{1,6})?/"


def _refs(first: int, last: int) -> str | None:
    """Regex alternation of the numbers first..last, or None when the range is empty."""
    if last < first:
        return None
    return "(" + "|".join(str(n) for n in range(first, last + 1)) + ")"


def _string_terminal(refs: str | None, max_chars: int, prose: bool = False) -> str:
    """A quoted string; with refs it may contain `$N` (not followed by a digit) or `${N}`.

    It starts with a letter, a digit or `$N` (never empty, never punctuation or a space); a prose
    string starts with a word of two or more letters and a space.
    """
    if refs is None:
        piece, first, last = _CHAR, "[A-Za-z0-9]", ""
    else:
        ref = rf"\$\{{{refs}\}}|\${refs}({_NOT_DIGIT})"
        piece, first, last = f"{_CHAR}|{ref}", f"[A-Za-z0-9]|{ref}", rf"(\${refs})?"
    if prose:
        return f'/"[A-Za-z]{{2,24}} ({piece}){{1,{max_chars}}}{last}"/'
    body = f"({first})({piece}){{0,{max_chars - 1}}}{last}"
    if refs is not None:
        body = rf"{body}|\${refs}"  # a string that is only `$N`
    return f'/"({body})"/'


def _call_rule(tool: Tool, k: int) -> str:
    """`"name(" a1 (", " a2 (", " a3)?)? ")"`: optional arguments only at the end."""
    values = [_value(arg, k) for arg in tool.args]
    required = sum(arg.required for arg in tool.args)
    optional = values[required:]
    tail = ""
    for value in reversed(optional[1:] if not required else optional):
        tail = f'(", " {value}{tail})?'
    if required:
        inner = " \", \" ".join(values[:required]) + (f" {tail}" if tail else "")
    elif optional:
        inner = f"({optional[0]}{' ' + tail if tail else ''})?"
    else:
        return f'"{tool.name}()"'
    return f'"{tool.name}(" {inner} ")"'


def _value(arg: Arg, k: int) -> str:
    if arg.prose:
        return f"prose_{k}"
    return {"str": f"text_{k}", "number": f"number_{k}", "list": f"list_{k}"}[arg.kind]


def plan_grammar(
    tools: Sequence[Tool],
    first_index: int = 1,
    max_tasks: int = 8,
    max_chars: int = 120,
    max_list: int = 6,
    max_thought: int = 160,
) -> str:
    """Lark text for plans of `tools`, numbered from `first_index`, ending with `join()`."""
    names = [tool.name for tool in tools]
    if len(set(names)) != len(names):
        raise ValueError(f"tool names must be unique; found {names}")
    last = first_index + max_tasks  # the highest number, which can only be join()
    lines = [f"start: plan_{first_index}",
             f'thought: "Thought: " /[^\\n]{{1,{max_thought}}}/ "\\n"',
             f"NUMBER: {_NUMBER}"]
    for k in range(first_index, last + 1):
        if k == last:
            lines.append(f'plan_{k}: thought? "{k}. join()"')
            continue
        lines.append(f'plan_{k}: thought? ("{k}. " call_{k} "\\n" plan_{k + 1} | "{k}. join()")')
        lines.append(f"call_{k}: " + " | ".join(_call_rule(tool, k) for tool in tools))
        refs = _refs(1, k - 1)
        lines.append(f"STR_{k}: {_string_terminal(refs, max_chars)}")
        scalars = [f"STR_{k}", "NUMBER"]
        if refs is not None:
            lines.append(f"REF_{k}: /\\${refs}|\\$\\{{{refs}\\}}/")
            scalars.append(f"REF_{k}")
        bare = [s for s in scalars if s != "NUMBER"]
        number = ["NUMBER"] + ([f"REF_{k}"] if refs is not None else [])
        lines.append(f"text_{k}: {' | '.join(bare)}")
        lines.append(f"PROSE_{k}: {_string_terminal(refs, max_chars, prose=True)}")
        lines.append(f"prose_{k}: PROSE_{k}")
        lines.append(f"number_{k}: {' | '.join(number)}")
        lines.append(f"item_{k}: {' | '.join(scalars)}")
        lines.append(
            f'list_{k}: "[" (item_{k} (", " item_{k}){{0,{max_list - 1}}})? "]" | REF_{k}'
            if refs is not None else
            f'list_{k}: "[" (item_{k} (", " item_{k}){{0,{max_list - 1}}})? "]"'
        )
    return "\n".join(lines) + "\n"


def call_grammar(tools: Sequence[Tool], finish: str = "Finish", max_chars: int = 200,
                 answer: str | None = None) -> str:
    """One action for ReAct: a tool call with constant arguments, or `Finish(answer)`; `answer`
    is a Lark expression for what Finish may hold (default: up to `max_chars` of one line).

        >>> "Finish(" in call_grammar([Tool("search", "", (Arg("q"),), print)])
        True
    """
    rules = call_rules(tools, finish, max_chars, answer)
    return "\n".join(["start: call_1 | finish", *rules]) + "\n"


def call_rules(tools: Sequence[Tool], finish: str = "Finish", max_chars: int = 200,
               answer: str | None = None) -> list[str]:
    """The rules behind `call_1 | finish` (ReAct's action), without a `start` rule."""
    answer = answer or f"/[^\\n]{{0,{max_chars}}}/"
    # One terminal, so that the answer's regex cannot swallow the closing parenthesis.
    lines = ["finish: FINISH_1", f'FINISH_1: "{finish}(" {answer} ")"',
             f"NUMBER: {_NUMBER}",
             f"STR_1: {_string_terminal(None, max_chars)}",
             f"PROSE_1: {_string_terminal(None, max_chars, prose=True)}",
             "text_1: STR_1", "prose_1: PROSE_1", "number_1: NUMBER", "item_1: STR_1 | NUMBER",
             'list_1: "[" (item_1 (", " item_1){0,5})? "]"']
    lines.append("call_1: " + " | ".join(_call_rule(tool, 1) for tool in tools))
    return lines
