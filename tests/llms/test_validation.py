"""One validation for every backend (`LLM.validate_request`): a bad `pattern=` or `stop_regex=`
is refused before any model call, in the engine's regex syntax, with the same positioned error
whichever backend runs the template."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.errors import ConstraintError
from guidance_engine.llms.base import LLM


def _openai(api_type: str) -> Callable[[Any], LLM]:
    # Port 9 (discard) on loopback: nothing listens, so any request would fail loudly.
    return lambda _: guidance.llms.OpenAI("m", api_type=api_type, api_key="k",
                                          base_url="http://127.0.0.1:9/v1", caching=False)


BACKENDS: dict[str, Callable[[Any], LLM]] = {
    "mock": lambda _: guidance.llms.Mock(),
    "llamacpp": _openai("llamacpp"),
    "vllm": _openai("vllm"),
    "openai": _openai("openai"),
    "transformers": lambda request: request.getfixturevalue("smol_llm"),
    "llamacpp in-process": lambda request: request.getfixturevalue("llamacpp_llm"),
}
LOCAL = {"transformers", "llamacpp in-process"}  # these load the default model

CASES = {
    "stop_regex": ("Count:\n  {{gen 'n' stop_regex='[0-9'}}",
                   "stop_regex '[0-9' is not supported: unclosed character class\n"
                   "    [0-9\n    ^ (line 2, column 5)\n"
                   "      {{gen 'n' stop_regex='[0-9'}}\n        ^"),
    "pattern": ("Age: {{gen 'age' pattern='(?<=x)[0-9]+' stop=','}}",
                "pattern '(?<=x)[0-9]+' is not supported: look-around, including look-ahead and "
                "look-behind, is not supported\n    (?<=x)[0-9]+\n    ^^^^ (line 1, column 8)\n"
                "    Age: {{gen 'age' pattern='(?<=x)[0-9]+' stop=','}}\n           ^"),
    "stop_regex from a variable": (
        "{{set 'r' '(a)\\\\1'}}\n{{gen 'x' stop_regex=r}}",
        "stop_regex '(a)\\\\1' is not supported: backreferences are not supported\n"
        "    (a)\\1\n       ^^ (line 2, column 3)\n    {{gen 'x' stop_regex=r}}\n      ^"),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", [
    pytest.param(name, marks=[pytest.mark.model] if name in LOCAL else [])
    for name in BACKENDS])
def test_every_backend_refuses_a_bad_regex_before_any_call_with_the_same_error(
    backend: str, case: str, request: pytest.FixtureRequest,
) -> None:
    llm = BACKENDS[backend](request)
    template, message = CASES[case]
    with pytest.raises(ConstraintError) as info:
        guidance(template, llm=llm)()
    assert str(info.value) == message


def test_a_valid_stop_regex_passes_validation_on_every_backend() -> None:
    for make in (BACKENDS["mock"], BACKENDS["vllm"]):
        make(None).validate_request(guidance.llms.base.GenRequest(prompt="", stop_regex=(r"\d",)))
