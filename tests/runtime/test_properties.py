"""Properties of execution: values are data (never template code), resuming equals one run."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import guidance_engine as guidance
from guidance_engine.llms.mock import Mock

# Text rich in template syntax, so injection would show.
texts = st.text(alphabet=st.sampled_from(list("{}#/~!'\" ab\n")), max_size=12)


@settings(max_examples=60, deadline=None)
@given(a=texts, b=texts, c=texts)
def test_awaited_values_appear_verbatim_and_stepwise_equals_one_run(
    a: str, b: str, c: str
) -> None:
    program = guidance("[{{await 'a'}}|{{await 'b'}}|{{gen 'g'}}]", llm=Mock(c))
    at_once = program(a=a, b=b)
    stepwise = program()(a=a)(b=b)
    assert str(at_once) == str(stepwise) == f"[{a}|{b}|{c}]"
    assert at_once["g"] == stepwise["g"] == c


@settings(max_examples=40, deadline=None)
@given(items=st.lists(texts, max_size=4))
def test_each_over_any_strings_renders_them_verbatim(items: list[str]) -> None:
    out = guidance("{{#each xs}}<{{this}}>{{/each}}")(xs=items)
    assert str(out) == "".join(f"<{item}>" for item in items)


# Small templates mixing text, loops, conditions, hidden blocks and awaits (`^` marks an await
# slot; `render` turns each slot into `{{await 'aN'}}` or into the plain variable `{{aN}}`).
_leaves = st.sampled_from(["x", " ", "\n", "{{v}}", "^", "{{~v~}}",
                          "{{gen 'g' list_append=True max_tokens=1}}"])
_pieces = st.recursive(
    st.lists(_leaves, max_size=4).map("".join),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map("".join),
        inner.map(lambda body: "{{#if f}}" + body + "{{else}}e{{/if}}"),
        inner.map(lambda body: "{{#each xs}}({{@index}}" + body + "){{/each}}"),
        inner.map(lambda body: "{{#block hidden=True}}" + body + "{{/block}}"),
        inner.map(lambda body: "{{#block 'b'}}" + body + "{{/block}}"),
    ),
    max_leaves=6,
)


def render(shape: str, awaited: bool) -> tuple[str, list[str]]:
    parts = shape.split("^")
    names = [f"a{index}" for index in range(len(parts) - 1)]
    slots = ["{{await '" + name + "'}}" if awaited else "{{" + name + "}}" for name in names]
    text = parts[0] + "".join(slot + part for slot, part in zip(slots, parts[1:], strict=True))
    return text, names


@settings(max_examples=80, deadline=None)
@given(shape=_pieces, flag=st.booleans())
def test_resuming_every_await_equals_one_run_with_the_values_given(shape: str, flag: bool) -> None:
    values = {"v": "V", "f": flag, "xs": ["p", "q"]}
    with_awaits, names = render(shape, awaited=True)
    plain, _ = render(shape, awaited=False)
    expected = guidance(plain, llm=Mock("m"))(**values, **{name: f"<{name}>" for name in names})
    program = guidance(with_awaits, llm=Mock("m"))(**values)
    for _ in range(50):
        if program.done:
            break
        name = program.waiting_for
        assert name is not None and str(program).startswith(program.text)
        assert str(program)[len(program.text):].startswith("{{await '" + name + "'}}")
        program = program(**{name: f"<{name}>"})
    assert program.done
    assert program.text == expected.text
    assert (program.get("b"), program.get("g")) == (expected.get("b"), expected.get("g"))
