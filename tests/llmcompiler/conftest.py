"""Fixtures for the LLMCompiler tests: the shared benchmark data folder, skipped only if absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from guidance_engine.llmcompiler.benchmarks import DATA_ENV, find_data_dir


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """`../shared/data/llmcompiler` from the repo root (or $GUIDANCE_ENGINE_LLMCOMPILER_DATA)."""
    found = find_data_dir()
    if found is None or not (found / "parallelqa_docs.json").is_file():
        pytest.skip(f"the LLMCompiler benchmark data is absent: no ../shared/data/llmcompiler "
                    f"next to the repo and ${DATA_ENV} unset")
    return found
