"""JSON-schema layout on the real default model (greedy): compact by default, and pretty-printed
output possible with `whitespace_flexible` (the issue-21 regression: it stopped at the first
newline after a comma)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jsonschema

from guidance_engine.llms.base import GenRequest, GenResult
from guidance_engine.llms.transformers import Transformers

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                   "city": {"type": "string"}},
    "required": ["name", "age", "city"],
}
EXAMPLE = {"name": "Alice", "age": 31, "city": "Paris"}
PROMPT = ("Write each person as JSON, indented by two spaces.\n\nPerson:\n"
          + json.dumps(EXAMPLE, indent=2) + "\n\nPerson:\n")


def gen(llm: Transformers, schema: dict[str, Any]) -> GenResult:
    request = GenRequest(PROMPT, json_schema=schema, max_tokens=60)
    return asyncio.run(llm.session().gen(request))


def test_flexible_whitespace_lets_the_model_indent(smol_llm: Transformers) -> None:
    schema = {**PERSON, "x-guidance": {"whitespace_flexible": True}}
    text = gen(smol_llm, schema).texts[0]
    jsonschema.validate(json.loads(text), PERSON)
    assert ",\n  " in text  # the layout of the example, newline after a comma included


def test_compact_is_the_default_on_the_model(smol_llm: Transformers) -> None:
    text = gen(smol_llm, PERSON).texts[0]
    value = json.loads(text)
    jsonschema.validate(value, PERSON)
    assert text == json.dumps(value)  # one line, one space after ':' and ','
