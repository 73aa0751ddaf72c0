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


def test_resuming_inside_each_writes_into_the_resumed_programs_own_items() -> None:
    program = guidance("{{#each xs}}{{set 'this.v' (await 'v')}}{{/each}}")
    first = program(xs=[{}, {}])
    second = first(v=1)
    third, other = second(v=2), second(v=3)
    assert (first["xs"], second["xs"]) == ([{}, {}], [{"v": 1}, {}])
    assert (third["xs"], other["xs"]) == ([{"v": 1}, {"v": 2}], [{"v": 1}, {"v": 3}])
    assert third.done and other.done


def test_await_at_the_very_start_and_the_very_end() -> None:
    start = guidance("{{await 'x'}}Hello")()
    assert (str(start), start.text, start.waiting_for) == ("{{await 'x'}}Hello", "", "x")
    assert str(start(x="A")) == "AHello"
    end = guidance("Hello {{await 'x'}}")()
    assert (str(end), end.text, end.done) == ("Hello {{await 'x'}}", "Hello ", False)
    finished = end(x="A")
    assert (str(finished), finished.done, finished.waiting_for) == ("Hello A", True, None)


def test_resuming_twice_and_resuming_the_same_partial_twice() -> None:
    first = guidance("{{await 'a'}}-{{await 'b'}}")()
    second = first(a=1)
    assert (str(second), second.waiting_for) == ("1-{{await 'b'}}", "b")
    assert (str(second(b=2)), second(b=2).variables()) == ("1-2", {})
    assert (str(first(a="X")), str(first(a="Y"))) == ("X-{{await 'b'}}", "Y-{{await 'b'}}")


def test_await_inside_a_role_block_keeps_the_open_role_for_the_resume() -> None:
    llm = Mock("ans")
    partial = guidance("{{#user}}Q: {{await 'q'}}{{/user}}{{#assistant}}{{gen 'a'}}"
                       "{{/assistant}}", llm=llm)()
    assert partial.text == "<|im_start|>user\nQ: "
    out = partial(q="hi")
    assert str(out) == ("<|im_start|>user\nQ: hi<|im_end|><|im_start|>assistant\n"
                        "ans<|im_end|>")
    assert llm.calls[0].prompt == "<|im_start|>user\nQ: hi<|im_end|><|im_start|>assistant\n"


def test_await_inside_a_select_option_reruns_the_select_on_resume() -> None:
    llm = Mock("x1")
    partial = guidance("A{{#select 'c'}}x{{await 'q'}}{{or}}y{{/select}}", llm=llm)()
    assert (partial.text, llm.calls) == ("A", [])
    out = partial(q="1")
    assert (str(out), out["c"], llm.calls[0].options) == ("Ax1", "x1", ("x1", "y"))


def test_streaming_a_resumed_program_starts_from_its_text_so_far() -> None:
    partial = guidance("A {{await 'x'}} {{gen 'y'}}", llm=Mock("b c"))()
    texts = [snapshot.text for snapshot in partial(x="X", stream=True)]
    assert texts == ["A X", "A X ", "A X b", "A X b c", "A X b c"]
