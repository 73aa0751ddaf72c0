"""Fixtures for the LLMCompiler tests: the benchmark data folder shipped in the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from guidance_engine.llmcompiler.benchmarks import DATA


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The benchmark data that ships with the package (never skipped: it is part of the source)."""
    return DATA
