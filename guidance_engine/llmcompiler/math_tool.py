"""The `math(problem, context)` tool: the model writes an expression, numexpr evaluates it.

The expression is a `gen` constrained by the shipped `arithmetic` grammar (numbers, `+ - * /`,
unary minus, parentheses), so it is always well formed (on a server that enforces no grammar,
such as OpenAI, a malformed one becomes the tool's error); `numexpr` computes it in a worker thread
(Python's `eval` is never used)::

    >>> evaluate_expression("(8848 * 0.9) / 5895")
    '1.3508'
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from guidance_engine import Program, load
from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler.conversation import current_conversation
from guidance_engine.llmcompiler.tools import NO_LATENCY, Arg, Latency, Tool
from guidance_engine.llmcompiler.trace import current_usage
from guidance_engine.llmcompiler.turns import enforced_grammar
from guidance_engine.llms import LLM

PROMPTS = Path(__file__).parent / "prompts"
_INTEGER = re.compile(r"(?<![\d.])(\d+)(?![\d.])")

MATH_DESCRIPTION = (
    'math(problem: str, context: list[str]) -> float: computes the answer to one arithmetic '
    "problem written in plain words (e.g. \"the height of Everest / the height of K2\"); list in "
    "context the results of earlier actions ($N) that hold the numbers it needs. One problem per "
    "call: use several math actions for several computations."
)
# ReAct cannot name earlier results, so its math action takes the problem only and reads the
# numbers from the observations so far (see `ReAct(context_tools=...)`).
MATH_REACT_DESCRIPTION = (
    'math(problem: str) -> float: computes the answer to one arithmetic problem written in plain '
    "words (e.g. \"the height of Everest / the height of K2\"), taking the numbers from the "
    "observations so far. One problem per call: use several math actions for several computations."
)


def evaluate_expression(expression: str) -> str:
    """Evaluate an arithmetic expression with numexpr; the result as short decimal text.

    Integer literals are made floats first, so large products cannot overflow and `/` is always
    true division.
    """
    import numexpr

    floated = _INTEGER.sub(r"\1.0", expression)
    try:
        value = float(numexpr.evaluate(floated, local_dict={}, global_dict={}).item())
    except ZeroDivisionError:
        raise GuidanceError(f"math: {expression!r} divides by zero") from None
    except OverflowError:
        raise GuidanceError(f"math: {expression!r} has no finite value (it overflows)") from None
    except (SyntaxError, KeyError, TypeError, ValueError) as error:
        raise GuidanceError(
            f"math: {expression!r} is not an arithmetic expression: {error}"
        ) from None
    if not math.isfinite(value):
        raise GuidanceError(f"math: {expression!r} has no finite value ({value})")
    return format_number(value)


def format_number(value: float) -> str:
    """`3.0` -> `'3'`, `1.350886...` -> `'1.3509'`, `77846500.0` -> `'77846500'`."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4f}".rstrip("0").rstrip(".")


class MathTool:
    """Builds the `math` tool around a model; `await MathTool(llm)("2 + 2", [])` -> `'4'`."""

    def __init__(self, llm: LLM | None = None, template: str | Path | None = None) -> None:
        self.llm = llm
        path = template or PROMPTS / "math.handlebars"
        self.program: Program = load(str(path), llm=llm, silent=True, log=True)
        self.last_expression: str | None = None

    async def __call__(self, problem: str, context: Sequence[Any] = ()) -> str:
        if isinstance(context, str):
            context = [context]
        # Inside an LLMCompiler run the prompt starts with the run's shared prefix (its system
        # text and question), so the server re-reads only the problem.
        shared = current_conversation()
        out = await self.program(problem=str(problem), context=[str(c) for c in context],
                                 grammar=enforced_grammar(self.llm, "arithmetic"),
                                 system=shared.system if shared else "",
                                 question=shared.question if shared else "", async_mode=True)
        usage = current_usage()
        if usage is not None:
            usage.add_log(out.log)
        expression = str(out["expression"]).strip()
        self.last_expression = expression
        return await asyncio.to_thread(evaluate_expression, expression)

    def tool(self, latency: Latency = NO_LATENCY) -> Tool:
        args = (Arg("problem", "str", prose=True), Arg("context", "list", required=False))
        return Tool("math", MATH_DESCRIPTION, args, self, latency)
