"""Suspension and resume: `{{await}}`, await_missing, chat loops inside geneach."""

from __future__ import annotations

import guidance_engine as guidance
from guidance_engine.llms.base import GenRequest
from guidance_engine.llms.mock import Mock

CHAT = """{{#system}}Be brief.{{/system}}
{{~#geneach 'conversation' stop=False}}
{{#user~}}
{{set 'this.user_text' (await 'user_text') hidden=False}}
{{~/user}}
{{#assistant~}}
{{gen 'this.ai_text'}}
{{~/assistant}}
{{~/geneach}}"""

SYSTEM = "<|im_start|>system\nBe brief.<|im_end|>"


def turn(user: str, ai: str) -> str:
    return f"\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{ai}<|im_end|>"


def test_await_stops_and_str_shows_the_rest_of_the_template() -> None:
    partial = guidance("Hi {{name}}{{await 'more'}}!", name="Bob")()
    assert (partial.text, str(partial)) == ("Hi Bob", "Hi Bob{{await 'more'}}!")
    assert (partial.waiting_for, partial.done) == ("more", False)


def test_await_resumes_and_consumes_the_variable() -> None:
    partial = guidance("Hi {{await 'more'}}!")()
    out = partial(more="there")
    assert (str(out), out.done, "more" in out) == ("Hi there!", True, False)
    assert str(partial) == "Hi {{await 'more'}}!"  # the partial program is untouched


def test_await_given_up_front_does_not_stop() -> None:
    assert str(guidance("{{await 'x'}}.")(x=1)) == "1."


def test_resume_does_not_repeat_model_calls() -> None:
    llm = Mock(["first", "second"])
    partial = guidance("{{gen 'a'}} {{await 'x'}} {{gen 'b'}}", llm=llm)()
    out = partial(x="X")
    assert (str(out), out["a"], out["b"]) == ("first X second", "first", "second")
    assert [c.prompt for c in llm.calls if isinstance(c, GenRequest)] == ["", "first X "]


def test_chat_loop_waits_again_on_every_iteration() -> None:
    chat = guidance(CHAT, llm=Mock(["Hello!", "Bye."]))
    first = chat(user_text="hi")
    assert first.waiting_for == "user_text"
    assert first.text == SYSTEM + turn("hi", "Hello!") + "\n<|im_start|>user\n"
    assert first["conversation"] == [{"user_text": "hi", "ai_text": "Hello!"}, {}]
    second = first(user_text="again")
    assert second.text == SYSTEM + turn("hi", "Hello!") + turn("again", "Bye.") + (
        "\n<|im_start|>user\n")
    assert second["conversation"][:2] == [
        {"user_text": "hi", "ai_text": "Hello!"}, {"user_text": "again", "ai_text": "Bye."}]
    assert first["conversation"] == [{"user_text": "hi", "ai_text": "Hello!"}, {}]


def test_await_inside_each_resumes_in_the_same_iteration() -> None:
    program = guidance("{{#each xs}}{{this}}={{await 'v'}};{{/each}}")
    p1 = program(xs=["a", "b"])
    p2 = p1(v=1)
    out = p2(v=2)
    assert (str(p1), str(p2), str(out)) == (
        "a={{await 'v'}};{{/each}}", "a=1;b={{await 'v'}};{{/each}}", "a=1;b=2;")


def test_await_missing_suspends_on_an_unknown_variable() -> None:
    partial = guidance("a {{x}} b {{y}}", await_missing=True)(x=1)
    assert (str(partial), partial.waiting_for) == ("a 1 b {{y}}", "y")
    out = partial(y=2)
    assert (str(out), out["y"]) == ("a 1 b 2", 2)  # a missing variable is not consumed


def test_await_inside_a_hidden_block_keeps_the_block_text_for_the_model() -> None:
    llm = Mock("g")
    partial = guidance("A{{#block hidden=True}}B{{await 'x'}}{{gen 'y'}}{{/block}}C",
                       llm=llm)()
    out = partial(x="X")
    assert (str(out), out["y"]) == ("AC", "g")
    assert llm.calls[0].prompt == "ABX"


def test_calling_a_finished_program_runs_it_again_with_new_variables() -> None:
    program = guidance("{{x}}")
    first = program(x=1)
    assert (str(first), str(first(x=2))) == ("1", "2")
