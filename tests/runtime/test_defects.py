"""Each defect of the Guidance 0.0.64 implementation, as a test that it is fixed."""

from __future__ import annotations

from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.errors import TemplateRuntimeError
from guidance_engine.llms.base import GenRequest
from guidance_engine.llms.mock import Mock


def test_elif_is_not_always_taken() -> None:
    template = "{{#if a}}A{{elif b}}B{{else}}C{{/if}}"
    assert str(guidance(template)(a=False, b=False)) == "C"
    assert str(guidance(template)(a=True, b=True)) == "A"


def test_errors_are_raised_not_printed_and_swallowed(capsys: pytest.CaptureFixture[str]) -> None:
    def explode() -> None:
        raise ValueError("kaput")

    program = guidance("before {{explode}} after")
    with pytest.raises(TemplateRuntimeError) as info:
        program(explode=explode)
    assert isinstance(info.value.__cause__, ValueError)
    assert capsys.readouterr() == ("", "")


def test_model_output_is_never_executed_after_an_await_resume() -> None:
    llm = Mock("{{bad}} {{gen 'evil'}}")
    partial = guidance("A: {{gen 'a' stop='\\n'}}\n{{await 'x'}} done", llm=llm)()
    out = partial(x="{{x}}")
    assert str(out) == "A: {{bad}} {{gen 'evil'}}\n{{x}} done"
    assert "evil" not in out and len(llm.calls) == 1


def test_variable_values_are_never_executed() -> None:
    out = guidance("{{v}} {{await 'w'}}")(v="{{gen 'x'}}")(w="{{#if}}")
    assert str(out) == "{{gen 'x'}} {{#if}}"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("x and y", "0"),
        ("x or y", "3"),
        ("a / b", "1.5"),
        ("a <= b", "False"),
        ("a >= b", "True"),
        ("'x' in s", "True"),
        ("'q' not in s", "True"),
        ("n is None", "True"),
        ("n is not None", "False"),
        ("-a", "-3"),
        ("-a + b * 2 % 3", "-2"),
        ("not (x and y) or n", "True"),
    ],
)
def test_infix_operators_work_at_run_time(expression: str, expected: str) -> None:
    out = guidance("{{" + expression + "}}")(x=3, y=0, a=3, b=2, s="xyz", n=None)
    assert str(out) == expected


def test_infix_operators_in_conditions() -> None:
    out = guidance("{{#if a >= 2 and not b}}yes{{else}}no{{/if}}")(a=2, b=False)
    assert str(out) == "yes"


def test_negative_index_and_loop_index() -> None:
    out = guidance("{{arr[-1]}} {{arr[-2]}}{{#each arr}} {{arr[@index]}}{{/each}}")(arr=[1, 2, 3])
    assert str(out) == "3 2 1 2 3"


def test_variable_named_items_is_not_a_dict_method() -> None:
    out = guidance("{{items}} {{d.items}} {{d.keys}}{{#each items}}{{this}}{{/each}}")(
        items=["a", "b"], d={"items": 1, "keys": 2})
    assert str(out) == "['a', 'b'] 1 2ab"


def test_select_block_puts_only_the_chosen_option_in_the_text() -> None:
    llm = Mock(["chainmail", "next"])
    out = guidance("Armor: {{#select 'a'}}leather{{or}}chainmail{{or}}plate{{/select}}\n"
                   "{{gen 'x'}}", llm=llm)()
    assert str(out) == "Armor: chainmail\nnext"
    gen = llm.calls[1]
    assert isinstance(gen, GenRequest) and gen.prompt == "Armor: chainmail\n"


def test_callable_results_are_not_executed() -> None:
    def make() -> Any:
        return "{{gen 'x'}}"

    assert str(guidance("{{make}}")(make=make)) == "{{gen 'x'}}"
