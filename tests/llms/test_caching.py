"""The generation cache: one layer around any backend, keyed by the whole request."""

from __future__ import annotations

from pathlib import Path

import pytest

import guidance_engine as guidance
from guidance_engine.llms import cache_store
from guidance_engine.llms.base import GenRequest, Segment
from guidance_engine.llms.caching import GenerationCache, cache_key
from guidance_engine.llms.mock import Mock


@pytest.fixture(autouse=True)
def _own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GenerationCache:
    store = GenerationCache(tmp_path / "generations")
    monkeypatch.setattr(cache_store, "DEFAULT", store)
    return store


def test_a_cached_rerun_makes_no_model_call_and_streams_like_a_run() -> None:
    llm = Mock(["first", "second"])
    program = guidance("Q: {{gen 'a'}} {{select 'b' options=['x', 'y']}}", llm=llm,
                       caching=True)
    assert program()["a"] == "first"
    calls = len(llm.calls)
    chunks = [p.text for p in program(stream=True)]
    assert len(llm.calls) == calls  # gen and select both served from the cache
    assert chunks[-1] == "Q: first x" and "Q: first" in chunks
    assert guidance("Q: {{gen 'a'}}", llm=llm)()["a"] == "second"  # caching off: the model


def test_sampling_without_a_seed_is_never_cached() -> None:
    llm = Mock(["one", "two", "three"])
    program = guidance("{{gen 'a' temperature=0.7}}", llm=llm, caching=True)
    assert [program()["a"], program()["a"]] == ["one", "two"]
    seeded = guidance("{{gen 'a' temperature=0.7 seed=1}}", llm=llm, caching=True)
    assert [seeded()["a"], seeded()["a"]] == ["three", "three"]


def test_the_key_covers_model_prompt_structure_and_every_parameter() -> None:
    llm = Mock("x")
    base = GenRequest("A b", segments=(Segment("A "), Segment("b", "value")))
    keys = {cache_key(llm, "gen", r) for r in [
        base, GenRequest("A b", segments=(Segment("A b"),)),
        GenRequest("A b", segments=base.segments, max_tokens=3),
        GenRequest("A b", segments=base.segments, stop=("\n",)),
        GenRequest("A b", segments=base.segments, extra={"top_k": 3}),
    ]}
    keys.add(cache_key(Mock("y"), "gen", base))
    assert len(keys) == 6


def test_clear_forgets_one_backend(_own_store: GenerationCache) -> None:
    guidance("{{gen 'a'}}", llm=Mock("x"), caching=True)()
    assert len(_own_store) == 1
    assert guidance.llms.OpenAI.cache.clear() == 0
    assert guidance.llms.Mock.cache.clear() == 1 and len(_own_store) == 0
