"""The public API: the callable module, guidance.llm, load, llms, Program reading and calling."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import guidance_engine as guidance
from guidance_engine import Program, TemplateSyntaxError
from guidance_engine.llms import Mock

ISSUE_TEMPLATE = """Name: {{gen 'name' stop='\\n'}}
{{#if adult}}Age: {{gen 'age'}}{{else}}minor{{/if}}
{{#each items}}{{@index}}. {{this}}{{#unless @last}}, {{/unless}}{{/each}}"""


@pytest.fixture(autouse=True)
def _reset_default_llm() -> Iterator[None]:
    saved = guidance.llm
    yield
    guidance.llm = saved


def test_issue_example() -> None:
    guidance.llm = guidance.llms.Mock({"Name:": "Bob", "": ["30"]})
    program = guidance(ISSUE_TEMPLATE)
    out = program(adult=True, items=["a", "b"])
    assert (out["name"], out["age"]) == ("Bob", "30")
    assert str(out) == "Name: Bob\nAge: 30\n0. a, 1. b"
    assert out.variables() == {"adult": True, "items": ["a", "b"], "name": "Bob", "age": "30"}


def test_issue_example_minor_branch() -> None:
    out = guidance(ISSUE_TEMPLATE, llm=Mock({"Name:": "Ann"}))(adult=False, items=[])
    assert str(out) == "Name: Ann\nminor\n"
    assert "age" not in out


def test_module_is_callable_and_returns_program() -> None:
    program = guidance("Hi {{name}}", name="Bob")
    assert isinstance(program, Program)
    assert str(program()) == "Hi Bob"


def test_all_is_sorted_and_complete() -> None:
    assert guidance.__all__ == sorted(guidance.__all__)
    for name in guidance.__all__:
        assert hasattr(guidance, name), name


def test_default_llm_is_read_at_call_time() -> None:
    program = guidance("{{gen 'x'}}")
    guidance.llm = Mock("late")
    assert program()["x"] == "late"


def test_explicit_llm_wins_over_default() -> None:
    guidance.llm = Mock("default")
    assert guidance("{{gen 'x'}}", llm=Mock("mine"))()["x"] == "mine"
    assert guidance("{{gen 'x'}}")(llm=Mock("call"))["x"] == "call"


def test_calling_returns_new_program_and_leaves_original_untouched() -> None:
    program = guidance("{{gen 'x'}}{{y}}", llm=Mock("a"), y="!")
    out = program()
    assert str(program) == "{{gen 'x'}}{{y}}"
    assert program.text == ""
    assert program.variables() == {"y": "!"}
    assert out is not program and str(out) == "a!"


def test_reading_variables() -> None:
    out = guidance("{{set 'x' 1}}", z=None)()
    assert out["x"] == 1 and out.get("x") == 1 and out.get("nope", 7) == 7
    assert "x" in out and "z" in out and "nope" not in out
    with pytest.raises(KeyError) as info:
        out["nope"]
    assert info.value.args[0] == "'nope' is not a variable of this program (variables: x, z)"


def test_str_of_never_run_program_is_its_template() -> None:
    program = guidance("A {{gen 'x'}} B")
    assert str(program) == "A {{gen 'x'}} B"
    assert program.text == "" and not program.done and program.waiting_for is None


def test_syntax_error_is_raised_by_guidance_call() -> None:
    with pytest.raises(TemplateSyntaxError):
        guidance("{{#if x}}never closed")


def test_load_reads_a_template_file(tmp_path: Path) -> None:
    path = tmp_path / "t.handlebars"
    path.write_text("Hello {{who}}!", encoding="utf-8")
    program = guidance.load(str(path), who="world")
    assert str(program()) == "Hello world!"
    assert program.name == str(path)


def test_load_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.handlebars"
    path.write_text("{{#if x}}", encoding="utf-8")
    with pytest.raises(TemplateSyntaxError) as info:
        guidance.load(str(path))
    assert str(path) in str(info.value)


def test_llms_exports_mock_and_importing_never_imports_torch() -> None:
    assert guidance.llms.Mock is Mock
    code = "import sys, guidance_engine as g; g.llms.Mock; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout == "False\n"


def test_unknown_llms_attribute() -> None:
    with pytest.raises(AttributeError) as info:
        guidance.llms.Nope  # noqa: B018
    assert str(info.value) == "module 'guidance_engine.llms' has no attribute 'Nope'"


def test_log_false_by_default_and_list_when_asked() -> None:
    program = guidance("{{gen 'x'}}", llm=Mock("a"))
    assert program().log is False
    assert isinstance(program(log=True).log, list)


def test_repr_and_html() -> None:
    partial = guidance("a <{{await 'x'}}>")()
    assert repr(partial) == "<Program waiting for 'x': \"a <{{await 'x'}}>\">"
    html = partial._repr_html_()
    assert '<div class="guidance-program" data-status="waiting">' in html
    assert "a &lt;<" in html  # the produced text, escaped
    assert "{{await &#x27;x&#x27;}}&gt;</span>" in html  # the rest of the template, greyed
    assert "waiting for &#x27;x&#x27;" in html


def test_llm_is_visible_to_templates() -> None:
    llm = Mock()
    llm.default_system_prompt = "Be helpful."  # type: ignore[attr-defined]
    out = guidance("{{#system}}{{llm.default_system_prompt}}{{/system}}", llm=llm)()
    assert str(out) == "<|im_start|>system\nBe helpful.<|im_end|>"


def test_classic_options_are_accepted() -> None:
    program = guidance("{{x}}", silent=True, caching=False, x=1)
    assert (program.silent, program.caching, str(program())) == (True, False, "1")


def test_readme_character_profile_on_the_mock() -> None:
    guidance.llm = Mock({'"name": "': 'Zed"', '"age": ': "42,", '"armor": "': "plate",
                         "": ['sword"', 'shield"']})
    character = guidance('{"id": "{{id}}", "name": "{{gen \'name\'}}", '
                         '"age": {{gen \'age\' pattern=\'[0-9]+\' stop=\',\'}}, '
                         '"armor": "{{#select \'armor\'}}leather{{or}}plate{{/select}}", '
                         '"items": [{{#geneach \'items\' num_iterations=2 join=\', \'}}'
                         '"{{gen \'this\' temperature=0.7}}"{{/geneach}}]}')
    out = character(id="e1")
    assert str(out) == ('{"id": "e1", "name": "Zed", "age": 42, "armor": "plate", '
                        '"items": ["sword", "shield"]}')
    assert (out["name"], out["age"], out["armor"], out["items"]) == (
        "Zed", "42", "plate", ["sword", "shield"])


def test_calling_never_mutates_the_callers_lists_and_dicts() -> None:
    items = [{"name": "a"}]
    out = guidance("{{#each items}}{{set 'this.seen' True}}{{/each}}")(items=items)
    assert items == [{"name": "a"}]
    assert out["items"] == [{"name": "a", "seen": True}]
    defaults = {"k": [1]}
    program = guidance("{{set 'this_is' 1}}{{#each d.k}}{{/each}}", d=defaults)
    assert program()["d"] == {"k": [1]} and program()["d"] is not defaults
