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
