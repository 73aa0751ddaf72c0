"""The issues' user stories, run whole on the real default model through the Program API, on
both local backends (`Transformers()` and `LlamaCpp()`, the `local_llm` fixture)."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest

import guidance_engine as guidance
from guidance_engine.errors import IncompleteOutputError

RPG = """The following is a character profile for an RPG game in JSON format.
```json
{
    "id": "{{id}}",
    "name": "{{gen 'name'}}",
    "age": {{gen 'age' pattern='[0-9]+' stop=','}},
    "armor": "{{#select 'armor'}}leather{{or}}chainmail{{or}}plate{{/select}}",
    "items": [{{#geneach 'items' num_iterations=3 join=', '}}"{{gen 'this' temperature=0.7 seed=3}}"{{/geneach}}]
}```"""  # noqa: E501

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def test_rpg_character_template(local_llm: Any) -> None:
    out = guidance(RPG, llm=local_llm)(id="e1f491f7")
    assert out["name"] and '"' not in out["name"]
    assert re.fullmatch("[0-9]+", out["age"])
    assert out["armor"] in ("leather", "chainmail", "plate")
    assert len(out["items"]) == 3 and all('"' not in item for item in out["items"])
    expected_tail = (
        f'"armor": "{out["armor"]}",\n    "items": ['
        + ", ".join(f'"{item}"' for item in out["items"])
        + "]\n}```"
    )
    assert str(out).endswith(expected_tail)


def test_constrained_gens_from_issue_4(local_llm: Any) -> None:
    program = guidance(
        """Phone: {{gen 'phone' pattern='[0-9]{3}-[0-9]{4}'}}
Person: {{gen 'person' json_schema=schema}}
Sum: {{gen 'expr' grammar='arithmetic' max_tokens=40 stop='\\n'}}
Answer: {{gen 'yes' pattern='(yes|no)' stop='\\n'}}""",
        llm=local_llm,
    )
    out = program(schema=SCHEMA)
    assert re.fullmatch("[0-9]{3}-[0-9]{4}", out["phone"])
    jsonschema.validate(json.loads(out["person"]), SCHEMA)
    assert re.fullmatch(r"[0-9+\-*/(). ]+", out["expr"])
    assert out["yes"] in ("yes", "no")


def test_unfinished_constraint_names_gen_and_position(local_llm: Any) -> None:
    program = guidance("PIN:\n  {{gen 'pin' pattern='[0-9]{30}' max_tokens=2}}", llm=local_llm)
    with pytest.raises(IncompleteOutputError) as err:
        program()
    message = str(err.value)
    assert message.startswith(
        "gen 'pin' stopped (max_tokens) before its pattern '[0-9]{30}' was complete; "
        "partial output: '"
    )
    assert message.endswith(
        "(line 2, column 5)\n      {{gen 'pin' pattern='[0-9]{30}' max_tokens=2}}\n        ^"
    )
    kept = guidance("PIN: {{gen 'pin' pattern='[0-9]{30}' max_tokens=2 allow_partial=True}}",
                    llm=local_llm)()
    assert re.fullmatch("[0-9]+", kept["pin"])


def test_chat_roles_render_chatml_and_stop_at_role_end(local_llm: Any) -> None:
    program = guidance(
        "{{#system}}You are terse.{{/system}}\n{{#user}}Say hello.{{/user}}\n"
        "{{#assistant}}{{gen 'answer' max_tokens=12}}{{/assistant}}",
        llm=local_llm,
    )
    out = program()
    assert str(out).startswith(
        "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nSay hello.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert out["answer"] and "<|im_end|>" not in out["answer"]
    assert str(out).endswith(out["answer"] + "<|im_end|>")
