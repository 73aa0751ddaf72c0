"""The default model lives in guidance_engine.defaults; `guidance.llm` reads and sets it there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import guidance_engine as guidance
from guidance_engine import defaults
from guidance_engine.llms.mock import Mock


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    saved = defaults.stored_llm()
    yield
    defaults.set_default_llm(saved)


def test_the_module_attribute_is_the_stored_default() -> None:
    llm = Mock("x")
    guidance.llm = llm
    assert defaults.default_llm() is llm and guidance.llm is llm
    defaults.set_default_llm(None)
    assert guidance.llm is None
    assert defaults.resolve_llm(llm) is llm


def test_a_non_model_is_refused_where_it_is_used_not_where_it_is_set() -> None:
    guidance.llm = "gpt-4"  # type: ignore[assignment]
    assert guidance.llm == "gpt-4"
    with pytest.raises(guidance.GuidanceError) as info:
        defaults.default_llm()
    assert str(info.value) == (
        "llm must be a model such as guidance.llms.Transformers() or guidance.llms.Mock(); "
        "found str 'gpt-4'")
