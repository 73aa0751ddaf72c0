"""Built-in commands on the Mock LLM: gen, select, each, geneach, blocks, roles, set, parse."""

from __future__ import annotations

import math
from typing import Any

import pydantic
import pytest

import guidance_engine as guidance
from guidance_engine.llms.base import GenRequest, Segment, SelectRequest
from guidance_engine.llms.mock import Mock
from guidance_engine.runtime.program import Program


def run(template: str, llm: Mock | None = None, **variables: Any) -> Program:
    out: Program = guidance(template, llm=llm or Mock())(**variables)
    return out


def gen_requests(llm: Mock) -> list[GenRequest]:
    return [call for call in llm.calls if isinstance(call, GenRequest)]


# ---------------------------------------------------------------- gen


def test_gen_saves_and_emits() -> None:
    out = run("Q: {{gen 'a'}}", Mock("yes"))
    assert (str(out), out["a"]) == ("Q: yes", "yes")


def test_gen_sends_prompt_and_arguments() -> None:
    llm = Mock("x")
    run("P {{gen 'a' stop=['.', '!'] stop_regex='\\\\d' max_tokens=5 temperature=0.5 "
        "top_p=0.9 seed=3 token_healing=False top_k=4}}", llm)
    (request,) = gen_requests(llm)
    assert request == GenRequest(
        prompt="P ", stop=(".", "!"), stop_regex=("\\d",), max_tokens=5, temperature=0.5,
        top_p=0.9, seed=3, token_healing=False, extra={"top_k": 4}, name="a",
        segments=(Segment("P "),),
    )


def test_gen_stop_inferred_from_quotes() -> None:
    llm = Mock('Bob" and more')
    out = run('name: "{{gen "n"}}" ok', llm)
    assert (str(out), gen_requests(llm)[0].stop) == ('name: "Bob" ok', ('"',))


def test_gen_next_text_is_not_a_stop_but_a_closing_tag_is() -> None:
    # 0.0.64 dropped the next-text default ("too easy to accidentally trigger"); its docstring
    # keeps quotes, XML closing tags and role ends.
    llm = Mock("30")
    out = run("Age: {{gen 'a'}}\nAge: <b>{{gen 'b'}}</b> and", llm)
    assert (out["a"], [r.stop for r in gen_requests(llm)]) == ("30", [(), ("</b>",)])


def test_gen_stop_inferred_from_role_end() -> None:
    llm = Mock("hi<|im_end|>junk")
    out = run("{{#assistant}}{{gen 'a'}}{{/assistant}}", llm)
    assert gen_requests(llm)[0].stop == ("<|im_end|>",)
    assert str(out) == "<|im_start|>assistant\nhi<|im_end|>"


def test_gen_without_following_text_has_no_stop() -> None:
    llm = Mock("x")
    run("A {{gen 'a'}}", llm)
    assert gen_requests(llm)[0].stop == ()


def test_gen_hidden_saves_but_does_not_emit() -> None:
    llm = Mock(["secret", "next"])
    out = run("A {{gen 'x' hidden=True}}B {{gen 'y'}}", llm)
    assert (str(out), out["x"]) == ("A B next", "secret")
    assert gen_requests(llm)[1].prompt == "A B "


def test_gen_n_returns_a_list_and_emits_the_first() -> None:
    out = run("{{gen 'x' n=2}}", Mock(["a", "b"]))
    assert (str(out), out["x"]) == ("a", ["a", "b"])


def test_gen_list_append() -> None:
    out = run("{{gen 'x' list_append=True}},{{gen 'x' list_append=True}}", Mock(["a", "b"]))
    assert (str(out), out["x"]) == ("a,b", ["a", "b"])


def test_gen_stop_text_is_none_when_no_stop_ended_the_text() -> None:
    out = run("Q {{gen 'x' save_stop_text=True stop='!'}}", Mock("no bang"))
    assert (out["x"], out["x_stop_text"]) == ("no bang", None)


def test_role_end_is_inferred_past_blank_text_before_the_close() -> None:
    llm = Mock("hi")
    out = run("{{#assistant}}\n{{gen 'a'}}\n{{/assistant}}", llm)
    assert gen_requests(llm)[0].stop == ("<|im_end|>",)  # as 0.0.64 did
    run("{{#assistant}}{{gen 'b'}} and more{{/assistant}}", llm)
    assert gen_requests(llm)[1].stop == ()
    assert str(out) == "<|im_start|>assistant\n\nhi\n<|im_end|>"


def test_mock_role_start_writes_role_block_arguments() -> None:
    out = run("{{#role 'user' name='bob'}}hi{{/role}}", Mock("x"))
    assert str(out) == '<|im_start|>user name="bob"\nhi<|im_end|>'


def test_llm_default_system_prompt() -> None:
    out = run("{{#system~}}{{llm.default_system_prompt}}{{~/system}}", Mock("x"))
    assert str(out) == "<|im_start|>system\nYou are a helpful assistant.<|im_end|>"


def test_gen_save_prompt_and_stop_text() -> None:
    out = run("Q {{gen 'x' save_prompt='p' save_stop_text=True stop='!'}}", Mock("a!b"))
    assert out.variables() == {"x": "a", "p": "Q ", "x_stop_text": "!"}
    out = run("{{gen 'x' save_prompt=True save_stop_text='s' stop='!'}}", Mock("a!"))
    assert (out["x_prompt"], out["s"]) == ("", "!")


def test_gen_logprobs_saved_as_name_logprobs() -> None:
    from guidance_engine.llms.base import GenResult, TokenLogprob

    class Scored(Mock):
        def session(self) -> Any:
            inner = super().session()

            class S(type(inner)):  # type: ignore[misc]
                async def gen(self, request: GenRequest, on_chunk: Any = None) -> GenResult:
                    top = (("a", -0.1), ("b", -2.0))
                    return GenResult(("a",), ("stop",), ("",),
                                     ((TokenLogprob("a", -0.1, top),),))

            return S(self)

    out = run("{{gen 'x' logprobs=2}}", Scored())
    assert out["x_logprobs"] == [{"a": -0.1, "b": -2.0}]


def test_gen_json_schema_from_pydantic_class() -> None:
    class Person(pydantic.BaseModel):
        name: str

    class Lenient(Mock):
        def validate_request(self, request: GenRequest) -> None:
            pass  # only the conversion is under test here, not the schema engine

    llm = Lenient('{"name": "A"}')
    run("{{gen 'p' json_schema=Person}}", llm, Person=Person)
    assert gen_requests(llm)[0].json_schema == Person.model_json_schema()


def test_gen_inside_set_expression() -> None:
    out = run("{{set 'y' (gen 'x') hidden=False}}", Mock("v"))
    assert (str(out), out["x"], out["y"]) == ("v", "v", None)


# ---------------------------------------------------------------- select


def test_select_block_emits_only_the_choice() -> None:
    llm = Mock("plate armor")
    out = run("Armor: {{#select 'armor'}}leather{{or}}plate{{/select}}.", llm)
    assert (str(out), out["armor"]) == ("Armor: plate.", "plate")
    assert llm.calls == [SelectRequest(prompt="Armor: ", options=("leather", "plate"),
                                       suffix=".", segments=(Segment("Armor: "),))]


def test_select_block_options_render_variables() -> None:
    out = run("{{#select 'c'}}{{a}}!{{or}}{{b}}?{{/select}}", Mock("two?"), a="one", b="two")
    assert (str(out), out["c"]) == ("two?", "two?")


def test_select_options_form_with_logprobs() -> None:
    out = run("{{select 'c' options=opts logprobs='lp'}}", Mock("b"), opts=["a", "b"])
    assert (str(out), out["c"], out["lp"]) == ("b", "b", {"a": -math.inf, "b": 0.0})


def test_select_default_name_and_list_append() -> None:
    out = run("{{select options=o}}{{select 'l' options=o list_append=True}}"
              "{{select 'l' options=o list_append=True}}", Mock(["x", "x", "y"]), o=["x", "y"])
    assert (out["selected"], out["l"], str(out)) == ("x", ["x", "y"], "xxy")


def test_select_block_logprobs_and_hidden() -> None:
    out = run("<{{#select 'c' logprobs='lp' hidden=True}}a{{or}}b{{/select}}>", Mock("b"))
    assert (str(out), out["c"], out["lp"]) == ("<>", "b", {"a": -math.inf, "b": 0.0})


# ---------------------------------------------------------------- each


def test_each_list_with_specials() -> None:
    out = run("{{#each xs}}{{@index}}{{this}}{{@first}}{{@last}};{{/each}}", xs=["a", "b"])
    assert str(out) == "0aTrueFalse;1bFalseTrue;"


def test_each_dict_sets_key() -> None:
    out = run("{{#each d}}{{@key}}={{this}};{{/each}}", d={"a": 1, "b": 2})
    assert str(out) == "a=1;b=2;"


def test_each_item_name_and_start_index() -> None:
    out = run("{{#each xs item_name='x' start_index=1}}{{@index}}{{x}}{{/each}}", xs=[5, 6, 7])
    assert str(out) == "1627"


def test_each_else_when_empty() -> None:
    assert str(run("{{#each xs}}{{this}}{{else}}empty{{/each}}", xs=[])) == "empty"


def test_each_hidden_keeps_captures_but_not_text() -> None:
    llm = Mock(["r1", "r2", "after"])
    out = run("A{{#each xs hidden=True}}{{this}}:{{gen 'r' list_append=True}}{{/each}}B"
              "{{gen 'z'}}", llm, xs=["x", "y"])
    assert (str(out), out["r"]) == ("ABafter", ["r1", "r2"])
    # 0.0.64: a hidden iteration is dropped from the context before the next one runs
    assert [r.prompt for r in gen_requests(llm)] == ["Ax:", "Ay:", "AB"]


def test_each_nested_this_is_innermost() -> None:
    out = run("{{#each outer}}[{{#each this}}{{this}}{{/each}}]{{/each}}", outer=[[1, 2], [3]])
    assert str(out) == "[12][3]"


def test_each_parallel_hidden_runs_each_on_its_own_context() -> None:
    llm = Mock({"A": "ra", "B": "rb"})
    out = run("P{{#each xs parallel=True hidden=True}}{{this}}{{gen 'r' list_append=True}}"
              "{{/each}}done", llm, xs=["A", "B"])
    assert (str(out), out["r"]) == ("Pdone", ["ra", "rb"])
    assert sorted(r.prompt for r in gen_requests(llm)) == ["PA", "PB"]


def test_each_parallel_requests_reach_the_session_together() -> None:
    started: list[str] = []
    finished_before_all_started: list[bool] = []

    class Gate(Mock):
        def session(self) -> Any:
            inner = super().session()

            class S(type(inner)):  # type: ignore[misc]
                async def gen(self, request: GenRequest, on_chunk: Any = None) -> Any:
                    started.append(request.prompt)
                    result = await super().gen(request, on_chunk)
                    finished_before_all_started.append(len(started) < 3)
                    return result

            return S(self)

    run("{{#each xs parallel=True hidden=True}}{{gen 'r' list_append=True}}{{/each}}", Gate("o"),
        xs=[1, 2, 3])
    assert started == ["", "", ""]
    assert finished_before_all_started == [False, False, False]


def test_each_break() -> None:
    out = run("{{#each xs}}{{this}}{{#if this == 2}}{{break}}{{/if}}{{/each}}.", xs=[1, 2, 3])
    assert str(out) == "12."


# ---------------------------------------------------------------- geneach


def test_geneach_num_iterations_join_and_this() -> None:
    out = run("[{{#geneach 'items' num_iterations=3 join=', '}}\"{{gen 'this'}}\"{{/geneach}}]",
              Mock(['x"', 'y"', 'z"']))
    assert (str(out), out["items"]) == ('["x", "y", "z"]', ["x", "y", "z"])


def test_geneach_asks_the_model_with_a_select_between_opening_and_stop() -> None:
    # The first item is always generated (0.0.64); the model is asked after each item.
    llm = Mock(["a\n", "- ", "b\n", "END"])
    out = run("List:\n{{#geneach 'items'}}- {{gen 'this' stop='\\n'}}\n{{/geneach}}END", llm)
    assert (str(out), out["items"]) == ("List:\n- a\n- b\nEND", ["a", "b"])
    selects = [c for c in llm.calls if isinstance(c, SelectRequest)]
    assert selects == [
        SelectRequest(prompt="List:\n- a\n", options=("- ", "END"), segments=(
            Segment("List:\n- "), Segment("a", "generated"), Segment("\n"))),
        SelectRequest(prompt="List:\n- a\n- b\n", options=("- ", "END"), segments=(
            Segment("List:\n- "), Segment("a", "generated"), Segment("\n- "),
            Segment("b", "generated"), Segment("\n"))),
    ]


def test_geneach_dict_items_and_index() -> None:
    llm = Mock(["q1", "Q", "q2", "stop"])
    out = run("{{#geneach 'qs' stop='stop'}}Q{{@index}}{{gen 'this.q' stop='|'}}|A"
              "{{/geneach}}stop", llm)
    assert out["qs"] == [{"q": "q1"}, {"q": "q2"}]
    assert str(out) == "Q0q1|AQ1q2|Astop"


def test_geneach_min_and_max_iterations() -> None:
    llm = Mock(["i0", "i1", "- ", "i2"])
    out = run("{{#geneach 'xs' min_iterations=2 max_iterations=3}}- {{gen 'this' stop='.'}}."
              "{{/geneach}}end", llm)
    assert out["xs"] == ["i0", "i1", "i2"]
    assert len([c for c in llm.calls if isinstance(c, SelectRequest)]) == 1


def test_geneach_hidden() -> None:
    out = run("a{{#geneach 'xs' num_iterations=2 hidden=True}}<{{gen 'this'}}>{{/geneach}}b",
              Mock(["1", "2"]))
    assert (str(out), out["xs"]) == ("ab", ["1", "2"])


def test_geneach_without_stop_text_is_an_error() -> None:
    try:
        run("{{#geneach 'xs'}}- {{gen 'this'}}{{/geneach}}")
    except guidance.TemplateRuntimeError as exc:
        assert str(exc) == (
            "geneach cannot tell when the list ends: no stop= given and no text follows the "
            "block; pass stop='...', num_iterations=N or stop=False (line 1, column 4)\n"
            "    {{#geneach 'xs'}}- {{gen 'this'}}{{/geneach}}\n"
            "       ^"
        )
    else:
        raise AssertionError("expected TemplateRuntimeError")


# ---------------------------------------------------------------- conditionals and blocks


def test_if_elif_else() -> None:
    template = "{{#if a}}A{{elif b}}B{{elif c}}C{{else}}D{{/if}}"
    results = [str(run(template, a=a, b=b, c=c)) for a, b, c in
               [(1, 1, 1), (0, 1, 1), (0, 0, 1), (0, 0, 0)]]
    assert results == ["A", "B", "C", "D"]


def test_unless() -> None:
    assert [str(run("{{#unless x}}no{{else}}yes{{/unless}}", x=x)) for x in (0, 1)] == [
        "no", "yes"]


def test_block_name_and_hidden() -> None:
    out = run("{{#block 'b' hidden=True}}inner{{/block}}after {{b}}")
    assert (str(out), out["b"]) == ("after inner", "inner")


def test_hidden_block_text_is_seen_inside_but_not_after() -> None:
    llm = Mock(["in", "out"])
    run("A{{#block hidden=True}}B{{gen 'x'}}{{/block}}C{{gen 'y'}}", llm)
    assert [r.prompt for r in gen_requests(llm)] == ["AB", "AC"]


def test_role_blocks() -> None:
    out = run("{{#system}}S{{/system}}{{#user}}U{{/user}}{{#assistant}}A{{/assistant}}"
              "{{#function}}F{{/function}}{{#role 'tool'}}T{{/role}}{{#role name='x'}}X{{/role}}")
    assert str(out) == "".join(
        f"<|im_start|>{r}\n{t}<|im_end|>" for r, t in
        [("system", "S"), ("user", "U"), ("assistant", "A"), ("function", "F"), ("tool", "T"),
         ("x", "X")])


def test_hidden_role_block() -> None:
    out = run("{{#user hidden=True}}U{{/user}}x")
    assert str(out) == "x"


# ---------------------------------------------------------------- set, parse, helpers, callables


def test_set_forms() -> None:
    out = run("{{set 'x' 3}}{{x}} {{set 'y' 4 hidden=False}} {{set {'a': 1, 'b': 2}}}{{a}}{{b}}")
    assert str(out) == "3 4 12"
    assert out.variables() == {"x": 3, "y": 4, "a": 1, "b": 2}


def test_parse_compiles_and_runs_a_string() -> None:
    out = run("<{{parse t name='p'}}>", Mock("g"), t="{{add 1 2}}{{gen 'x'}}")
    assert (str(out), out["x"], out["p"]) == ("<3g>", "g", "3g")


def test_helpers() -> None:
    out = run("{{add 1 2 3}} {{subtract 5 2}} {{multiply 2 3}} {{equal 1 1 1}} {{notequal 1 2}} "
              "{{greater 2 1}} {{less 2 1}} {{contains 'abc' 'b'}} {{strip '  x '}} {{len xs}} "
              "{{range 3}} {{not True}} {{callable len}}", xs=[1])
    assert str(out) == "6 3 6 True True True False True x 1 range(0, 3) False True"


def test_call_forms() -> None:
    assert str(run("{{add(1, 2)}} {{add (add 1 2) 3}} {{add 'a' 'b'}}")) == "3 6 ab"


def test_python_callables_sync_and_async() -> None:
    def double(x: int) -> int:
        return x * 2

    async def fetch(key: str, suffix: str = "") -> str:
        return key.upper() + suffix

    out = run("{{double 4}} {{fetch 'k' suffix='!'}} {{fetch(key='z')}}", double=double,
              fetch=fetch)
    assert str(out) == "8 K! Z"


def test_partial_program() -> None:
    inner = guidance("[{{v}}:{{w}}{{set 'seen' v}}]", w="default")
    out = run("x {{>inner v=1}} y {{>inner v=2 w=3}}", inner=inner)
    assert (str(out), out["seen"]) == ("x [1:default] y [2:3]", 2)


def test_prefix_special() -> None:
    assert str(run("ab{{len @prefix}}")) == "ab2"


def test_geneach_single_call_splits_one_generation() -> None:
    llm = Mock("\n- a\n- b\nEND")
    out = run("List:{{#geneach 'items' single_call=True}}\n- {{gen 'this'}}{{/geneach}}\nEND",
              llm)
    assert (str(out), out["items"]) == ("List:\n- a\n- b\nEND", ["a", "b"])
    assert llm.calls == [GenRequest(prompt="List:", stop=("\nEND",), max_tokens=500,
                                    segments=(Segment("List:"),))]


def test_geneach_single_call_with_fields_and_join() -> None:
    out = run("{{#geneach 'qa' single_call=True join='; ' stop='.'}}Q {{gen 'this.q'}} A "
              "{{gen 'this.a'}}{{/geneach}}.", Mock("Q x A 1; Q y A 2."))
    assert out["qa"] == [{"q": "x", "a": "1"}, {"q": "y", "a": "2"}]
    assert str(out) == "Q x A 1; Q y A 2."


def test_geneach_single_call_body_may_number_its_items_with_index() -> None:
    # the 0.0.64 README's pattern: the model writes the whole list, numbers included
    llm = Mock('\n<item index="0">apple</item>\n<item index="1">pear</item>\n</list>')
    out = run('<list>{{#geneach "items" single_call=True}}\n<item index="{{@index}}">'
              '{{gen "this"}}</item>{{/geneach}}\n</list>', llm)
    assert out["items"] == ["apple", "pear"]
    assert str(out) == ('<list>\n<item index="0">apple</item>\n<item index="1">pear</item>'
                        '\n</list>')
    assert gen_requests(llm)[0].stop == ("\n</list>",)


def test_geneach_single_call_rejects_other_tags() -> None:
    try:
        run("{{#geneach 'xs' single_call=True}}{{x}}{{gen 'this'}}{{/geneach}}.", x=1)
    except guidance.TemplateRuntimeError as exc:
        assert str(exc) == (
            "geneach single_call=True needs a body of fixed text, {{@index}} and "
            "{{gen 'this'}} / {{gen 'this.name'}} tags only (line 1, column 35)\n"
            "    {{#geneach 'xs' single_call=True}}{{x}}{{gen 'this'}}{{/geneach}}.\n"
            "                                      ^")
    else:
        raise AssertionError("expected TemplateRuntimeError")


def test_each_parallel_without_hidden_appends_texts_in_order() -> None:
    llm = Mock({"A": "ra", "B": "rb"})
    out = run("P{{#each xs parallel=True}}[{{this}}{{gen 'r' list_append=True}}]{{/each}}.",
              llm, xs=["A", "B"])
    assert (str(out), out["r"]) == ("P[Ara][Brb].", ["ra", "rb"])


def test_geneach_break_keeps_the_current_item() -> None:
    out = run("{{#geneach 'xs' stop=False}}{{gen 'this' stop=';'}};"
              "{{#if this == 'done'}}{{break}}{{/if}}{{/geneach}}!", Mock(["a;", "done;", "z;"]))
    assert (str(out), out["xs"]) == ("a;done;!", ["a", "done"])


def test_one_session_per_execution_closed_at_the_end() -> None:
    opened: list[str] = []

    class Counting(Mock):
        def session(self) -> Any:
            inner = super().session()
            opened.append("open")

            class S(type(inner)):  # type: ignore[misc]
                def close(self) -> None:
                    opened.append("close")

            return S(self)

    program = guidance("{{gen 'a'}}{{#each xs parallel=True hidden=True}}{{gen 'b'}}{{/each}}"
                       "{{#select 'c'}}x{{or}}y{{/select}}{{parse t}}", llm=Counting("x"))
    program(xs=[1, 2], t="{{gen 'd'}}")
    assert opened == ["open", "close"]
    program(xs=[], t="")
    assert opened == ["open", "close", "open", "close"]


def test_gen_at_the_end_of_a_loop_body_sees_the_next_iteration_opening() -> None:
    llm = Mock(["a", "\n- ", "b", "\nEND"])
    out = run("List:{{#geneach 'items'}}\n- {{gen 'this'}}{{/geneach}}\nEND", llm)
    assert [r.stop for r in gen_requests(llm)] == [(), ()]  # no next-text stop (0.0.64)
    assert (str(out), out["items"]) == ("List:\n- a\n- b\nEND", ["a", "b"])


def test_gen_at_the_end_of_an_each_body_with_join_free_opening() -> None:
    llm = Mock("x; y")
    run("{{#each xs}}</x>{{gen 'r' list_append=True}}{{/each}}", llm, xs=[1, 2])
    # The last iteration is followed by the template's end, so it has no stop.
    assert [r.stop for r in gen_requests(llm)] == [("</x>",), ()]


def test_gen_in_the_last_each_iteration_stops_at_the_text_after_the_loop() -> None:
    llm = Mock("x")
    run("[{{#each xs}}'{{gen 'r' list_append=True}}', {{/each}}]", llm, xs=[1, 2])
    assert [r.stop for r in gen_requests(llm)] == [("'",), ("'",)]
    llm = Mock("x")
    run("({{#each xs}}<v>{{gen 'r' list_append=True}}{{/each}}</v>)", llm, xs=[1, 2])
    assert [r.stop for r in gen_requests(llm)] == [(), ("</v>",)]


def test_gen_at_the_end_of_an_if_or_block_body_stops_at_the_text_after_it() -> None:
    for template in ("{{#if 1}}A {{gen 'v'}}{{/if}}</p>, then",
                     "{{#block 'b'}}A {{gen 'v'}}{{/block}}</p>, then",
                     "{{#if 0}}x{{else}}A {{gen 'v'}}{{/if}}</p>, then",
                     '"{{#if 1}}{{gen \'v\'}}{{/if}}"'):
        llm = Mock("x")
        run(template, llm)
        # a quote pair must enclose the tag itself (prev_text is not looked through)
        expected = () if template.startswith('"') else ("</p>",)
        assert gen_requests(llm)[0].stop == expected, template


def test_gen_before_a_role_end_or_a_hidden_block_end_does_not_look_past_it() -> None:
    llm = Mock("x")
    run("{{#user}}{{#if 1}}{{gen 'v'}}{{/if}}{{/user}} after", llm)
    run("{{#block hidden=True}}A {{gen 'w'}}{{/block}}</p> after", llm)
    run("{{#user}}{{#block}}{{gen 'u'}}{{/block}}</b> more{{/user}}", llm)
    assert [r.stop for r in gen_requests(llm)] == [("<|im_end|>",), (), ("</b>",)]


def test_gen_at_the_end_of_a_numbered_geneach_stops_at_the_text_after_it() -> None:
    llm = Mock("x")
    run("{{#geneach 'xs' num_iterations=2}}<li>{{gen 'this'}}{{/geneach}}</ul>.", llm)
    assert [r.stop for r in gen_requests(llm)] == [(), ("</ul>",)]


def test_hidden_block_inside_geneach_is_seen_by_its_own_gen_only() -> None:
    llm = Mock({"think ": ["deep.", "hard."], "- ": ["one\n", "two\n"]})
    out = run("List:{{#geneach 'items' num_iterations=2}}{{#block hidden=True}}think "
              "{{gen 'this.t' stop='.'}}.{{/block}} - {{gen 'this.v' stop='\\n'}}\n"
              "{{/geneach}}end", llm)
    assert str(out) == "List: - one\n - two\nend"
    assert out["items"] == [{"t": "deep", "v": "one"}, {"t": "hard", "v": "two"}]
    assert [r.prompt for r in gen_requests(llm)] == [
        "List:think ", "List: - ", "List: - one\nthink ", "List: - one\n - "]


def test_bad_schema_passed_as_variable_fails_before_any_model_call() -> None:
    from guidance_engine.errors import ConstraintError

    llm = Mock("x")
    program = guidance("A {{gen 'a'}} B {{gen 'b' json_schema=schema}}", llm=llm)
    with pytest.raises(ConstraintError) as err:
        program(schema={"type": "object", "properties": {"n": {"type": "bogus"}}})
    assert llm.calls == []
    assert str(err.value) == (
        "json_schema cannot be used: Invalid type: bogus (line 1, column 19)\n"
        "    A {{gen 'a'}} B {{gen 'b' json_schema=schema}}\n"
        "                      ^"
    )


def test_geneach_stop_list_offers_every_stop_to_the_model() -> None:
    llm = Mock(["a", "END", "b"])
    out = run("<ul>{{#geneach 'items' stop=['</ul>', 'END']}}<li>{{gen 'this' stop='</li>'}}"
              "</li>{{/geneach}}</ul>", llm)
    assert out["items"] == ["a"]
    (select,) = [c for c in llm.calls if isinstance(c, SelectRequest)]
    assert select.options == ("<li>", "</ul>", "END")


def test_geneach_whitespace_stop_without_opening_text_peeks_for_the_stop() -> None:
    llm = Mock(["idea one", "\n\nDone"])
    out = run("Ideas:\n{{#geneach 'items' stop='\\n\\n'}}{{gen 'this' stop='\\n'}}\n"
              "{{/geneach}}\n\nDone", llm)
    assert out["items"] == ["idea one"]
    probe = gen_requests(llm)[1]
    assert (probe.prompt, probe.stop) == ("Ideas:\nidea one\n", ("\n\n",))


def test_geneach_hidden_iterations_each_see_the_context_before_the_loop() -> None:
    llm = Mock("q")
    out = run("L{{#geneach 'l' num_iterations=3 hidden=True}}[{{gen 'this' stop=']'}}]"
              "{{/geneach}}!", llm)
    assert [r.prompt for r in gen_requests(llm)] == ["L[", "L[", "L["]
    assert (str(out), out["l"]) == ("L!", ["q", "q", "q"])


def test_gen_stop_inferred_from_triple_quotes_and_backticks() -> None:
    llm = Mock('a"b"""c')
    out = run('x = """{{gen \'x\'}}""" y', llm)
    assert out["x"] == 'a"b'
    llm = Mock("code` rest")
    run("`{{gen 'x'}}` y", llm)
    assert gen_requests(llm)[0].stop == ("`",)


def test_geneach_single_call_stops_at_num_iterations() -> None:
    llm = Mock("- a\n- b\n- c\n")
    out = run("L:\n{{#geneach 'items' single_call=True num_iterations=2}}- {{gen 'this'}}\n"
              "{{/geneach}}", llm)
    assert (out["items"], str(out)) == (["a", "b"], "L:\n- a\n- b\n")


def test_select_passes_temperature_and_seed_to_the_model() -> None:
    llm = Mock("b")
    out = run("{{select 'x' options=['a', 'b'] temperature=1.0 seed=5}}", llm)
    (request,) = [c for c in llm.calls if isinstance(c, SelectRequest)]
    assert (out["x"], request.temperature, request.seed) == ("b", 1.0, 5)
