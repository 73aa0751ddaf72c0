"""JSON-schema and grammar constraints: sampled outputs validate / parse on the Python side.

Random-logits runs over SmolLM2 steered to close after a few free tokens (strings and
nesting would otherwise wander on for thousands of tokens); the steering only picks among the
tokens the mask allows, so validity still comes from the constraint alone.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
from typing import Any

import jsonschema
import pytest

from guidance_engine.constraints import ConstraintSpec, Matcher, TokenIndex

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
ORDER = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{3}$"},
        "size": {"enum": ["small", "medium", "large"]},
        "qty": {"type": "integer", "minimum": 1, "maximum": 9},
        "price": {"type": "number"},
        "gift": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "required": ["id", "size", "qty", "gift"],
    "additionalProperties": False,
}
SEEDS = range(6)


def sample(index: TokenIndex, spec: ConstraintSpec, seed: int, model: Any, bias: Any) -> str:
    matcher = Matcher(spec, index)
    run = model(index, seed).run(matcher, max_tokens=160, prefer=bias(index), patience=6)
    assert run.reason in ("eos", "finished"), (run, matcher.text())
    result = matcher.result()
    assert result.complete
    return result.value


@pytest.mark.parametrize("schema", [PERSON, ORDER], ids=["person", "order"])
@pytest.mark.parametrize("seed", SEEDS)
def test_json_schema_outputs_validate(
    smol: TokenIndex, random_model: Any, closing_order: Any, schema: dict[str, Any], seed: int
) -> None:
    value = sample(smol, ConstraintSpec(json_schema=schema), seed, random_model, closing_order)
    jsonschema.validate(json.loads(value), schema)


@pytest.mark.parametrize("seed", SEEDS)
def test_json_grammar_outputs_parse(
    smol: TokenIndex, random_model: Any, closing_order: Any, seed: int
) -> None:
    value = sample(smol, ConstraintSpec(grammar="json"), seed, random_model, closing_order)
    json.loads(value)


ARITHMETIC_NODES: tuple[type[ast.AST], ...] = (ast.Expression, ast.BinOp, ast.UnaryOp)
ARITHMETIC_NODES += (ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.USub)


@pytest.mark.parametrize("seed", SEEDS)
def test_arithmetic_outputs_are_python_expressions(
    smol: TokenIndex, random_model: Any, closing_order: Any, seed: int
) -> None:
    value = sample(smol, ConstraintSpec(grammar="arithmetic"), seed, random_model, closing_order)
    tree = ast.parse(value, mode="eval")
    assert all(isinstance(node, ARITHMETIC_NODES) for node in ast.walk(tree)), value
    with contextlib.suppress(ZeroDivisionError):
        eval(compile(tree, "<arithmetic>", "eval"))  # only numbers and operators, checked above


STEP = re.compile(r"(\d+)\. ([A-Za-z_][A-Za-z0-9_]*)\((.*)\)")


def check_plan(text: str) -> list[tuple[str, list[Any]]]:
    """Parse a plan on the Python side: (tool, args) per step; `$N` references become None."""
    lines = text.split("\n")
    assert lines[-1].endswith(". join()") and re.fullmatch(r"\d+\. join\(\)", lines[-1])
    steps = []
    for line in lines[:-1]:
        if line.startswith("Thought: "):
            continue
        match = STEP.fullmatch(line)
        assert match and match.group(2) != "join", line
        args = json.loads("[" + re.sub(r"\$[1-9][0-9]*", "null", match.group(3)) + "]")
        steps.append((match.group(2), args))
    return steps


def test_plan_grammar_accepts_a_plan_and_nothing_after_join(byte_index: TokenIndex) -> None:
    plan = '1. search("Microsoft market cap")\n2. search("Apple")\nThought: compare\n'
    plan += '3. math("ratio", [$1, $2], 2.5)\n4. join()'
    matcher = Matcher(ConstraintSpec(grammar="llmcompiler_plan"), byte_index)
    matcher.consume_all(list(plan.encode()), forced=False)
    assert matcher.is_finished()
    assert check_plan(plan) == [
        ("search", ["Microsoft market cap"]),
        ("search", ["Apple"]),
        ("math", ["ratio", [None, None], 2.5]),
    ]
    matcher = Matcher(ConstraintSpec(grammar="llmcompiler_plan"), byte_index)
    matcher.consume_all(list(b"1. join()"), forced=False)
    assert matcher.is_finished()  # nothing may follow join


@pytest.mark.parametrize("seed", SEEDS)
def test_plan_outputs_parse(
    smol: TokenIndex, random_model: Any, closing_order: Any, seed: int
) -> None:
    spec = ConstraintSpec(grammar="llmcompiler_plan")
    value = sample(smol, spec, seed, random_model, closing_order)
    check_plan(value)


@pytest.mark.gemma
@pytest.mark.parametrize("seed", range(3))
def test_gemma_pattern_and_schema_outputs(
    gemma: TokenIndex, random_model: Any, closing_order: Any, seed: int
) -> None:
    # SentencePiece with byte fallback: tokens may be single bytes of a UTF-8 character
    pattern = r"[0-9]{3}-[0-9]{4}|[a-zé]{2,6}"
    matcher = Matcher(ConstraintSpec(pattern=pattern, stop=("\n",)), gemma)
    run = random_model(gemma, seed).run(matcher, max_tokens=24)
    assert run.reason in ("eos", "finished")
    assert re.fullmatch(pattern, matcher.result().value)
    value = sample(gemma, ConstraintSpec(json_schema=PERSON), seed, random_model, closing_order)
    jsonschema.validate(json.loads(value), PERSON)
