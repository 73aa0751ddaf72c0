from __future__ import annotations

import asyncio

import pytest

import guidance_engine as guidance
from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler.math_tool import MathTool, evaluate_expression
from guidance_engine.llmcompiler.trace import TokenUsage, reset_usage, use_usage


def test_numexpr_evaluates_grammar_sentences() -> None:
    assert evaluate_expression("(8848 * 0.9) / 5895") == "1.3508"
    assert evaluate_expression("100000 * 100000") == "10000000000"  # no integer overflow
    assert evaluate_expression("7 / 2") == "3.5"  # true division
    assert evaluate_expression("-(3 - 5) * -2") == "-4"


def test_bad_expressions_are_errors_with_the_expression() -> None:
    with pytest.raises(GuidanceError) as error:
        evaluate_expression("1 / (2 - 2)")
    assert str(error.value) == "math: '1 / (2 - 2)' divides by zero"
    with pytest.raises(GuidanceError, match=r"math: '__import__\(\"os\"\)' is not an arithmetic"):
        evaluate_expression('__import__("os")')
    with pytest.raises(GuidanceError) as error:
        evaluate_expression("10 ** 400")  # an unconstrained server may write more than + - * /
    assert str(error.value) == "math: '10 ** 400' has no finite value (it overflows)"


def test_the_model_writes_the_expression_under_the_arithmetic_grammar() -> None:
    llm = guidance.llms.Mock("2400 * 1.12 + 860 * 0.7")
    tool = MathTool(llm).tool()

    async def main() -> str:
        token = use_usage(usage := TokenUsage())
        try:
            return await tool.call(["lake A grown by 12% plus lake B shrunk by 30%",
                                    ["Lake A covers 2,400 km2.", "Lake B covers 860 km2."]])
        finally:
            reset_usage(token)
            assert usage.model_calls == 1

    assert asyncio.run(main()) == "3290"
    request = llm.calls[-1]
    assert request.grammar == "arithmetic"  # type: ignore[union-attr]
    assert request.prompt.endswith(  # type: ignore[union-attr]
        "Problem: lake A grown by 12% plus lake B shrunk by 30%\nContext:\n"
        "- Lake A covers 2,400 km2.\n- Lake B covers 860 km2.<|im_end|>\n"
        "<|im_start|>assistant\n")
