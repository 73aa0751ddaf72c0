"""The templates that tests/test_guidance064_differential.py runs in the real guidance 0.0.64
(through runner.py, in the side venv build/g064-venv) and in guidance_engine.

This module is plain Python with no imports from either package, so both interpreters load it
from its file. A `Case` is one template, the Mock script both sides get, the variables given
when the program is made, and one or more calls: with `chain=True` each call runs on the
program the previous call returned (resuming an `{{await}}`), otherwise on the original
program (reuse). Functions are real Python functions defined here; `Partial(template)` becomes
a program of that template on each side (for `{{>name}}`).

Mock scripts never contain a gen's stop string nor more words than its max_tokens: 0.0.64's
Mock returns its text unchanged (a real model stops there), while ours stops as a model would.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Partial:
    """A program of `template` (with `variables`), made by each side, passed as a variable."""

    template: str
    variables: dict[str, Any] = field(default_factory=dict)


def built(variables: dict[str, Any], guidance: Any) -> dict[str, Any]:
    """`variables` with each `Partial` made into a program by `guidance` (the module of the
    interpreter running the case)."""
    return {key: guidance(value.template, **built(value.variables, guidance))
            if isinstance(value, Partial) else value for key, value in variables.items()}


@dataclass(frozen=True)
class Case:
    name: str
    template: str
    mock: Any = None  # the Mock's output script (None: "mock output 0", "mock output 1", ...)
    variables: dict[str, Any] = field(default_factory=dict)  # given to guidance(template, ...)
    runs: tuple[dict[str, Any], ...] = ({},)  # keyword arguments of successive calls
    chain: bool = True  # call the previous result (resume); False: call the original program
    error: bool = False  # every run must fail on both sides (only "fails" is compared)
    mode: str = "sync"  # "async": made with async_mode=True, awaited; "stream": stream=True, last


# ---------------------------------------------------------------- functions used by templates


def shout(text: str) -> str:
    return text.upper() + "!"


def join_words(*words: str, sep: str = " ") -> str:
    return sep.join(words)


def describe(name: str, age: int = 0, city: str = "nowhere") -> str:
    return f"{name} ({age}) of {city}"


def is_even(n: int) -> bool:
    return n % 2 == 0


def make_list(n: int) -> list[int]:
    return list(range(n))


async def fetch_value(key: str) -> str:
    await asyncio.sleep(0)
    return f"<{key}>"


async def slow_add(a: int, b: int = 1) -> int:
    await asyncio.sleep(0)
    return a + b


def nothing() -> None:
    return None


FUNCTIONS = {"shout": shout, "join_words": join_words, "describe": describe, "is_even": is_even,
             "make_list": make_list, "fetch_value": fetch_value, "slow_add": slow_add,
             "nothing": nothing}


# ---------------------------------------------------------------- what is compared


def plain(value: Any) -> Any:
    """`value` as JSON data (anything else as its repr), so both interpreters' values compare."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return f"<{type(value).__name__}>"


def visible_variables(variables: dict[str, Any]) -> dict[str, Any]:
    """The user's variables: no @-internals, no model, no functions or programs."""
    out = {}
    for key, value in variables.items():
        if key.startswith(("@", "_")) or key in ("llm", "logging") or callable(value):
            continue
        if type(value).__name__ == "Program":
            continue
        out[key] = plain(value)
    return out


# ---------------------------------------------------------------- the cases

PEOPLE = [{"name": "Ann", "age": 31}, {"name": "Bo", "age": 7}]
USER = {"name": "Ann", "age": 31, "address": {"city": "Oslo", "zip": "0150"}}

CASES: list[Case] = []


def call(program: Any, mode: str, kwargs: dict[str, Any]) -> Any:
    """`program(**kwargs)` run to its end: awaited in async mode, the stream's last program
    (both interpreters run their cases through this one function)."""
    if mode == "async":
        async def run() -> Any:
            return await program(**kwargs)

        return asyncio.run(run())
    if mode == "stream":
        programs = list(program(**kwargs))
        return programs[-1] if programs else None
    return program(**kwargs)


def failed(exc: BaseException) -> dict[str, Any]:
    """What a call that raised records (both sides compare only that it failed)."""
    return {"str": None, "text": None, "variables": None,
            "error": f"{type(exc).__name__}: {exc}"[:300]}


def case(name: str, template: str, **kwargs: Any) -> None:
    CASES.append(Case(name, template, **kwargs))


# --- variables, paths, literals
case("var_simple", "Hello {{name}}!", variables={"name": "World"})
case("var_call_arg", "Hello {{name}}!", runs=({"name": "Bob"},))
case("var_dotted", "{{person.name}} ({{person.age}}) lives in {{person.address.city}}.",
     variables={"person": USER})
case("var_indexed", "{{fruits[0]}}, {{fruits[2]}}; {{grid[1][0]}}; {{person['name']}}",
     variables={"fruits": ["apple", "pear", "fig"], "grid": [[1, 2], [3, 4]], "person": USER})
case("var_kinds", "{{n}}|{{x}}|{{flag}}|{{off}}|{{empty}}|{{nums}}|{{d}}",
     variables={"n": 3, "x": 2.5, "flag": True, "off": False, "empty": "", "nums": [1, 2],
                "d": {"k": 1}})
case("var_none", "[{{nothing_here}}]", variables={"nothing_here": None})
case("var_multiline", "Line one {{a}}\nLine two {{b}}\n\n  indented {{a}}\n",
     variables={"a": "A", "b": "B"})
case("var_literal_args", "{{shout 'hi'}} {{shout \"there\"}} {{join_words 'a' 'b' sep='-'}}",
     variables={"shout": shout, "join_words": join_words})
case("var_unicode", "Grüße, {{name}} — ✓", variables={"name": "Zoë"})
case("var_spaces_in_tag", "{{ name }} and {{  name}}", variables={"name": "N"})

# --- whitespace control
case("ws_both", "a   {{~name~}}   b", variables={"name": "X"})
case("ws_left", "a \n {{~name}} \n b", variables={"name": "X"})
case("ws_right", "a \n {{name~}} \n b", variables={"name": "X"})
case("ws_block", "start\n{{~#if flag~}}\n   inside\n{{~/if~}}\n end", variables={"flag": True})
case("ws_block_false", "start\n{{~#if flag~}}\n   inside\n{{~else~}}\n  other  \n{{~/if}}\n end",
     variables={"flag": False})
case("ws_each", "List:\n{{~#each things}}\n- {{this}}{{~/each}}\nEnd",
     variables={"things": ["a", "b", "c"]})
case("ws_comment", "x  {{~! gone ~}}  y", variables={})

# --- comments and escapes
case("comment_short", "a{{! a comment }}b", variables={})
case("comment_long", "a{{!-- long {{name}} }} --}}b", variables={"name": "N"})
case("comment_multiline", "a\n{{!--\nmany\nlines\n--}}\nb", variables={})

# --- if / unless
case("if_true", "{{#if flag}}yes{{/if}}.", variables={"flag": True})
case("if_false", "{{#if flag}}yes{{/if}}.", variables={"flag": False})
case("if_else", "{{#if flag}}yes{{else}}no{{/if}}", variables={"flag": 0})
case("if_truthiness", "{{#if a}}A{{/if}}{{#if b}}B{{/if}}{{#if c}}C{{/if}}{{#if d}}D{{/if}}"
     "{{#if e}}E{{/if}}", variables={"a": "", "b": [], "c": "x", "d": [0], "e": None})
case("if_equal_call", "{{#if (equal x 3)}}three{{else}}other{{/if}}", variables={"x": 3})
case("if_equal_paren", "{{#if equal(x, 3)}}three{{else}}other{{/if}}", variables={"x": 4})
case("if_infix_eq", "{{#if x == 3}}three{{else}}other{{/if}}", variables={"x": 3})
case("if_infix_ne_gt_lt", "{{#if x != 3}}ne{{/if}} {{#if x > 1}}gt{{/if}} {{#if x < 1}}lt{{/if}}",
     variables={"x": 5})
case("if_not", "{{#if not flag}}off{{else}}on{{/if}}", variables={"flag": False})
case("if_nested", "{{#if a}}[{{#if b}}ab{{else}}a{{/if}}]{{else}}none{{/if}}",
     variables={"a": True, "b": False})
case("unless_true", "{{#unless flag}}shown{{/unless}}.", variables={"flag": True})
case("unless_false", "{{#unless flag}}shown{{/unless}}.", variables={"flag": False})
case("if_function", "{{#if (is_even n)}}even{{else}}odd{{/if}}",
     variables={"n": 4, "is_even": is_even})

# --- each
case("each_list", "{{#each things}}{{@index}}:{{this}}{{#unless @last}}, {{/unless}}{{/each}}",
     variables={"things": ["a", "b", "c"]})
case("each_first_last", "{{#each things}}{{#if @first}}<{{/if}}{{this}}{{#if @last}}>{{/if}}"
     "{{/each}}", variables={"things": [1, 2, 3]})
case("each_dicts", "{{#each people}}- {{this.name}} is {{this.age}}\n{{/each}}",
     variables={"people": PEOPLE})
case("each_dict_key", "{{#each table}}{{@key}}={{this}};{{/each}}",
     variables={"table": {"x": 1, "y": 2}})
case("each_nested", "{{#each rows}}[{{#each this}}{{this}}{{/each}}]{{/each}}",
     variables={"rows": [[1, 2], [3]]})
case("each_outer_var", "{{#each things}}{{greeting}} {{this}}. {{/each}}",
     variables={"things": ["x", "y"], "greeting": "hi"})
case("each_item_name", "{{#each people item_name='p'}}{{p.name}};{{/each}}",
     variables={"people": PEOPLE})
case("each_empty", "[{{#each things}}{{this}}{{/each}}]", variables={"things": []})
case("each_range", "{{#each range(3)}}{{this}}{{/each}}|{{#each (range 2 4)}}{{this}}{{/each}}",
     variables={})
case("each_function_list", "{{#each (make_list 3)}}<{{this}}>{{/each}}",
     variables={"make_list": make_list})
case("each_gen", "{{#each questions}}Q: {{this}}\nA: {{gen 'answers' list_append=True stop='\n'}}"
     "\n{{/each}}", mock=["one", "two"], variables={"questions": ["why?", "how?"]})
case("each_hidden_gen", "{{#each things hidden=True}}{{this}}: {{gen 'notes' list_append=True}}"
     "{{/each}}Done {{gen 'final'}}", mock=["n1", "n2", "end"],
     variables={"things": ["a", "b"]})

# --- block
case("block_named", "{{#block 'intro'}}Hi {{name}}{{/block}} / {{intro}}",
     variables={"name": "Ann"})
case("block_hidden", "Before {{#block hidden=True}}secret {{gen 'hid'}}{{/block}}After "
     "{{gen 'seen'}}", mock=["h1", "s1"])
case("block_hidden_named", "{{#block 'draft' hidden=True}}Draft: {{gen 'd'}}{{/block}}Final:"
     " {{gen 'f'}}", mock=["d1", "f1"])

# --- gen
case("gen_plain", "The answer is {{gen 'answer'}}", mock="forty two")
case("gen_stop", "List: {{gen 'first' stop=','}}, more", mock="apples")
case("gen_stop_list", "A{{gen 'x' stop=['\n', '.']}}.", mock="bc")
case("gen_max_tokens", "Q{{gen 'x' max_tokens=3}}", mock=" a b")
case("gen_two", "Name: {{gen 'name'}}\nAge: {{gen 'age'}}", mock={"Name: ": "Bob", "Age: ": "30"})
case("gen_quote_stop", "He said \"{{gen 'quote'}}\" loudly.", mock="hello")
case("gen_single_quote_stop", "It is '{{gen 'word'}}' here", mock="odd")
case("gen_xml_stop", "<answer>{{gen 'answer'}}</answer>", mock="42")
case("gen_n", "Pick: {{gen 'picks' n=3 temperature=0.7}} end", mock=["x", "y", "z"])
case("gen_n_hidden", "Pick: {{gen 'picks' n=2 temperature=0.7 hidden=True}} end",
     mock=["x", "y"])
case("gen_hidden", "A {{gen 'a' hidden=True}}B {{gen 'b'}}", mock=["one", "two"])
case("gen_save_prompt", "Start {{name}}: {{gen 'x' save_prompt='p'}}", mock="done",
     variables={"name": "N"})
case("gen_temperature", "T {{gen 'x' temperature=0.5 max_tokens=7}}", mock="warm")
case("gen_list_append", "{{gen 'xs' list_append=True}} {{gen 'xs' list_append=True}}",
     mock=["a", "b"])
case("gen_ws", "Q:\n{{~gen 'x'~}}\n:end", mock="v")
case("string_escape", "A: {{gen 'a' stop='\\n'}}", mock="x")  # a backslash and an n
case("gen_pattern", "Age: {{gen 'age' pattern='[0-9]+'}}", mock="41")
case("gen_default_mock", "A: {{gen 'a'}} B: {{gen 'b'}}", mock=None)

# --- select
case("select_options", "Choice: {{select 'pick' options=opts}}.", mock="pear",
     variables={"opts": ["apple", "pear"]})
case("select_block", "Is it good? {{#select 'answer'}}Yes{{or}}No{{/select}}", mock="No")
case("select_block_prefix", "Answer: {{#select 'a'}}yes{{or}}yeah{{or}}no{{/select}}!",
     mock="yeah!")
case("select_then_if", "Tool? {{#select 'tool'}}search{{or}}answer{{/select}}\n"
     "{{#if (equal tool 'search')}}Searching{{else}}Answering{{/if}}", mock="search")
case("select_var_option", "Pick {{#select 'p'}}{{a}}{{or}}{{b}}{{/select}}", mock="dog",
     variables={"a": "cat", "b": "dog"})

# --- roles
CHAT = ("{{#system~}}\nYou are a helpful assistant.\n{{~/system}}\n{{#user~}}\n{{query}}\n"
        "{{~/user}}\n{{#assistant~}}\n{{gen 'answer' max_tokens=20}}\n{{~/assistant}}")
case("role_chat", CHAT, mock="Paris is the capital.", variables={"query": "Capital of France?"})
case("role_generic", "{{#role 'user'}}Hi{{/role}}{{#role 'assistant'}}{{gen 'r'}}{{/role}}",
     mock="Hello")
case("role_hidden", "{{#user hidden=True}}draft{{/user}}{{#assistant}}{{gen 'r'}}{{/assistant}}",
     mock="ok")
case("role_two_turns", "{{#user}}A{{/user}}{{#assistant}}{{gen 'a1'}}{{/assistant}}"
     "{{#user}}B {{a1}}{{/user}}{{#assistant}}{{gen 'a2'}}{{/assistant}}", mock=["r1", "r2"])
case("role_each_history", "{{#each history}}{{#user}}{{this.q}}{{/user}}{{#assistant}}"
     "{{this.a}}{{/assistant}}{{/each}}{{#user}}{{q}}{{/user}}{{#assistant}}{{gen 'a'}}"
     "{{/assistant}}", mock="fine",
     variables={"history": [{"q": "hi", "a": "hello"}], "q": "how are you?"})

# --- geneach
case("geneach_fixed", "Ideas:\n{{#geneach 'ideas' num_iterations=3}}- {{gen 'this' stop='\n'}}\n"
     "{{/geneach}}Done", mock=["alpha", "beta", "gamma"])
case("geneach_fields", "{{#geneach 'people' num_iterations=2}}Name: {{gen 'this.name' stop='\n'}}"
     "\nAge: {{gen 'this.age' stop='\n'}}\n{{/geneach}}", mock=["Ann", "31", "Bo", "7"])
case("geneach_index", "{{#geneach 'xs' num_iterations=2}}{{@index}}. {{gen 'this' stop='\n'}}\n"
     "{{/geneach}}", mock=["p", "q"])
case("geneach_join", "[{{#geneach 'xs' num_iterations=3 join=', '}}{{gen 'this' max_tokens=2}}"
     "{{/geneach}}]", mock=["a", "b", "c"])
case("geneach_hidden", "{{#geneach 'xs' num_iterations=2 hidden=True}}item {{gen 'this'}}"
     "{{/geneach}}after {{gen 'y'}}", mock=["h1", "h2", "y1"])
case("geneach_in_assistant", "{{#user}}List two{{/user}}{{#assistant~}}{{#geneach 'bullets' "
     "num_iterations=2}}* {{gen 'this' stop='\n'}}\n{{/geneach}}{{~/assistant}}",
     mock=["one", "two"])

# --- set
case("set_value", "{{set 'x' 5}}x={{x}}", variables={})
case("set_visible", "[{{set 'x' 'shown' hidden=False}}] {{x}}", variables={})
case("set_expression", "{{set 'total' (add a b)}}{{total}}", variables={"a": 2, "b": 3})
case("set_overwrite", "{{name}} {{set 'name' 'B'}}{{name}}", variables={"name": "A"})

# --- library helpers
case("lib_add", "{{add 1 2}} {{add x 0.5}} {{add 1 2 3}}", variables={"x": 2})
case("lib_subtract", "{{subtract 10 3}} {{subtract x 1}}", variables={"x": 2.5})
case("lib_multiply", "{{multiply 3 4}} {{multiply 'ab' 2}}", variables={})
case("lib_equal", "{{equal 1 1}} {{equal 1 2}} {{equal a a a}}", variables={"a": "z"})
case("lib_notequal_compare", "{{notequal 1 2}} {{greater 3 2}} {{less 3 2}}", variables={})
case("lib_contains", "{{contains 'abc' 'b'}} {{contains things 'x'}} {{contains d 'k'}}",
     variables={"things": ["y"], "d": {"k": 1}})
case("lib_strip", "[{{strip s}}]", variables={"s": "  padded \n"})
case("lib_len", "{{len things}} {{len(s)}}", variables={"things": [1, 2, 3], "s": "abcd"})
case("lib_not", "{{not flag}} {{not 0}}", variables={"flag": True})
case("lib_range_len", "{{#each range(len(things))}}{{this}}{{/each}}", variables={"things": "ab"})
case("lib_callable", "{{callable name}}", variables={"name": "x"})
case("lib_callable_function", "{{callable shout}}", variables={"shout": shout})
case("lib_parse", "{{parse code}} / {{parse code name='out'}}",
     variables={"code": "Hi {{who}}", "who": "you"})
case("lib_break", "{{#each things}}{{this}}{{#if (equal this 'stop')}}{{break}}{{/if}};{{/each}}"
     "end", variables={"things": ["a", "stop", "c"]})
case("lib_nested_calls", "{{add (add 1 2) (subtract 10 4)}}", variables={})

# --- Python functions
case("fn_positional", "{{shout name}}", variables={"shout": shout, "name": "hey"})
case("fn_keyword", "{{describe 'Ann' age=31 city='Oslo'}} / {{describe name}}",
     variables={"describe": describe, "name": "Bo"})
case("fn_varargs", "{{join_words a b c}} {{join_words a b sep='+'}}",
     variables={"join_words": join_words, "a": "x", "b": "y", "c": "z"})
case("fn_async", "{{fetch_value 'k'}} {{slow_add 2}} {{slow_add 2 b=5}}",
     variables={"fetch_value": fetch_value, "slow_add": slow_add})
case("fn_none", "[{{nothing()}}]", variables={"nothing": nothing})
case("fn_no_args", "[{{nothing}}]", variables={"nothing": nothing})
case("fn_call_syntax", "{{describe(name, age=3)}}", variables={"describe": describe, "name": "C"})
case("fn_on_generated", "Word: {{gen 'w'}}\nLoud: {{shout w}}", mock="quiet",
     variables={"shout": shout})
case("fn_passed_at_call", "{{f 'x'}}", runs=({"f": shout},))

# --- await and resuming
case("await_one", "Q: {{q}}\nA: {{await 'answer'}}.",
     runs=({"q": "why?"}, {"answer": "because"}))
case("await_then_gen", "User: {{await 'msg'}}\nBot: {{gen 'reply'}}", mock="hi there",
     runs=({}, {"msg": "hello"}))
case("await_twice", "{{await 'a'}}+{{await 'b'}}!", runs=({}, {"a": 1}, {"b": 2}))
case("await_consumed", "{{await 'a'}} then {{a}}", runs=({}, {"a": 1}))
case("items_name", "{{#each items}}{{this}}{{/each}}", variables={"items": [1, 2]})
case("await_given", "{{await 'a'}}!", runs=({"a": "now"},))

# --- program reuse and defaults
case("reuse_twice", "Hi {{name}}: {{gen 'reply'}}", mock=["r1", "r2"],
     runs=({"name": "A"}, {"name": "B"}), chain=False)
case("reuse_default", "{{greeting}}, {{name}}", variables={"greeting": "Hello", "name": "x"},
     runs=({}, {"name": "Y", "greeting": "Yo"}), chain=False)
case("reuse_gen_vars_not_leaked", "{{gen 'out'}}", mock=["first", "second"], runs=({}, {}),
     chain=False)

# --- partials
case("partial_simple", "Start {{>sub}} end", variables={"sub": Partial("[{{who}}]"),
                                                         "who": "me"})
case("partial_gen", "Q {{>ask}} done", mock="yes", variables={"ask": Partial("A: {{gen 'a'}}")})

# --- errors: both must fail; the message is not compared
case("err_unknown_variable", "Hi {{missing}}", error=True)
case("err_unknown_command", "{{frobnicate 1 2}}", error=True)
case("err_unclosed_block", "{{#if flag}}open", variables={"flag": True}, error=True)
case("err_stray_close", "text {{/if}}", error=True)
case("err_bad_tag", "{{#each}}", error=True)
case("err_unclosed_tag", "Hello {{name", variables={"name": "x"}, error=True)
case("err_function_raises", "{{subtract 'a' 1}}", error=True)

# --- notebook-era programs and less common constructs
AGENT = ("{{#system~}}\nYou are a helpful assistant.\n{{~/system}}\n"
         "{{~#geneach 'conversation' stop=False}}\n{{#user~}}\n"
         "{{set 'this.user_text' (await 'user_text') hidden=False}}\n{{~/user}}\n"
         "{{#assistant~}}\n{{gen 'this.ai_text' temperature=0 max_tokens=30}}\n{{~/assistant}}\n"
         "{{~/geneach}}")
case("chat_agent", AGENT, mock=["Hello! How can I help?", "Goodbye."],
     runs=({}, {"user_text": "hi"}, {"user_text": "bye"}))
case("system_prompt_from_llm", "{{#system~}}{{llm.default_system_prompt}}{{~/system}}")
case("escaped_tag", "Literal \\{{name}} and {{name}}", variables={"name": "N"})
case("role_kwargs", "{{#role 'user' name='bob'}}hi{{/role}}")
case("function_role", "{{#function~}}result: 4{{~/function}}{{#assistant}}{{gen 'r'}}"
     "{{/assistant}}", mock="four")
case("gen_stop_regex", "Count: {{gen 'n' stop_regex='[a-z]'}}!", mock="123")
case("gen_save_stop_text", "Say {{gen 'x' stop='.' save_stop_text=True}}.", mock="hi")
case("gen_n_list_append", "{{gen 'xs' n=2 temperature=0.5 list_append=True}}|{{gen 'xs' n=2 "
     "temperature=0.5 list_append=True}}", mock=["a", "b", "c", "d"])
case("each_parallel", "{{#each things parallel=True hidden=True}}{{this}}: {{gen 'outs' "
     "list_append=True}}{{/each}}!", mock="p", variables={"things": ["a", "b"]})
case("each_and_list", "{{#each things}}{{#if @last}}and {{/if}}{{this}}{{#unless @last}}, "
     "{{/unless}}{{/each}}", variables={"things": ["x", "y", "z"]})
case("literals", "{{add 1.5 2}} {{equal x True}} {{#each [1, 2]}}<{{this}}>{{/each}} "
     "{{len {'a': 1, 'b': 2}}}", variables={"x": True})
case("set_dict", "{{set {'a': 1, 'b': 'x'}}}{{a}}{{b}}")
case("geneach_break", "{{#geneach 'xs' num_iterations=3}}{{#if (equal @index 2)}}{{break}}"
     "{{/if}}<{{gen 'this' max_tokens=2}}>{{/geneach}}.", mock=["a", "b", "c"])
case("each_await", "{{#each things}}{{this}}={{await 'v'}};{{/each}}end",
     variables={"things": ["p", "q"]}, runs=({}, {"v": 1}, {"v": 2}))
case("role_end_after_newline", "{{#assistant}}{{gen 'a'}}\n{{/assistant}}", mock="x")
case("role_comment", "{{#user}}{{! note }}Hi{{/user}}")
case("partial_args", "{{>greet who='Ann'}} / {{>greet who=name}}",
     variables={"greet": Partial("Hello {{who}}"), "name": "Bo"})
case("parse_gen", "{{parse code}}", mock="42", variables={"code": "Q {{gen 'x'}}"})
case("select_list_append", "{{#each things}}{{select 'picks' options=opts list_append=True}};"
     "{{/each}}", mock=["b", "a"], variables={"things": [1, 2], "opts": ["a", "b"]})
case("function_in_dict", "{{tools.shout 'a'}} {{tools.describe 'B' age=2}}",
     variables={"tools": {"shout": shout, "describe": describe}})
case("await_missing_program", "Hi {{name}}! {{gen 'x'}}", mock="ok",
     variables={"await_missing": True}, runs=({}, {"name": "Ann"}))
case("hidden_role_then_gen", "{{#system}}S{{/system}}{{#user hidden=True}}secret{{/user}}"
     "{{#user}}Q{{/user}}{{#assistant}}{{gen 'a'}}{{/assistant}}", mock="A")
case("nested_blocks_vars", "{{#block 'outer'}}[{{#block 'inner'}}{{x}}{{/block}}]{{/block}}"
     "{{outer}}{{inner}}", variables={"x": "v"})
case("gen_in_if", "{{#if flag}}A: {{gen 'a'}}{{else}}B{{/if}} end", mock="yes",
     variables={"flag": True})
case("geneach_select", "{{#geneach 'votes' num_iterations=2}}vote: {{#select 'this'}}up{{or}}"
     "down{{/select}}\n{{/geneach}}", mock=["down", "up"])
case("tool_def_style", "{{#each functions}}// {{this.description}}\ntype {{this.name}} = "
     "{{#if contains(this, 'x')}}x{{else}}none{{/if}};\n{{/each}}",
     variables={"functions": [{"name": "f", "description": "does f"},
                              {"name": "g", "description": "does g", "x": 1}]})


def random_cases(seed: int, count: int) -> list[Case]:
    """`count` random cases from `seed` (tests/guidance064/generated.py), the same everywhere."""
    import importlib.util
    import sys
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "g064_generated", Path(__file__).with_name("generated.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["g064_generated"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    cases: list[Case] = module.generate(seed, count, Case, FUNCTIONS)
    return cases


# --- edge probes (appended after the generator helper so the case list stays one block)
case("each_else", "{{#each things}}{{this}}{{else}}none{{/each}}", variables={"things": []})
case("each_else_items", "{{#each things}}{{this}}{{else}}none{{/each}}",
     variables={"things": ["a", "b"]})
case("unless_else", "{{#unless flag}}a{{else}}b{{/unless}}", variables={"flag": True})
case("float_sum", "{{add 0.1 0.2}} {{subtract 1 0.9}}")
case("set_bool_if", "{{set 'x' True}}{{#if x}}yes{{/if}}")
case("geneach_zero", "[{{#geneach 'xs' num_iterations=0}}{{gen 'this'}}{{/geneach}}]",
     mock="never")
case("await_given_at_creation", "A{{await 'x'}}B", variables={"x": 1})
case("hidden_gen_reused", "{{#block hidden=True}}{{gen 'x'}}{{/block}}Value: {{x}}",
     mock="secret")
case("function_returns_list", "{{make_list 3}}", variables={"make_list": make_list})
case("len_call_syntax", "{{len(things)}} {{len things}}", variables={"things": [1, 2]})
case("shell_command", "{{shell 'echo hi'}}", error=True)  # 0.0.64: KeyError 'partial_output'
case("geneach_open_ended", "{{#geneach 'xs'}}- {{gen 'this' stop='\n'}}\n{{/geneach}}END",
     mock=["a", {"text": "- ", "finish_reason": "length"}, "b",
           {"text": "END", "finish_reason": "stop"}])
case("each_this_dotted_missing", "{{#each people}}{{this.name}}:{{this.city}};{{/each}}",
     variables={"people": PEOPLE}, error=True)


# --- async_mode and stream calls (the last program of the stream is compared)
case("async_program", "Hi {{name}}: {{gen 'reply'}} {{fetch_value 'k'}}", mock="there",
     variables={"fetch_value": fetch_value}, runs=({"name": "Ann"},), mode="async")
case("async_await_resume", "Q {{await 'x'}} A {{gen 'a'}}", mock="ans", runs=({}, {"x": "1"}),
     mode="async")
case("stream_program", "Count: {{gen 'n'}}{{#each things}} {{this}}{{/each}}", mock="one two",
     variables={"things": [1, 2]}, mode="stream")
