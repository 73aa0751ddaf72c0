"""Every advertised entry point works: each name in `__all__` and `llms.__all__` imports, and the
`guidance-engine` console script from pyproject.toml runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import guidance_engine as guidance

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", guidance.__all__)
def test_every_public_name_imports(name: str) -> None:
    assert hasattr(guidance, name)


@pytest.mark.parametrize("name", guidance.llms.__all__)
def test_every_backend_name_imports(name: str) -> None:
    assert getattr(guidance.llms, name) is not None


def test_the_console_script_runs() -> None:
    script = shutil.which("guidance-engine", path=str(Path(sys.executable).parent))
    assert script is not None, "the guidance-engine script is not installed in this venv"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([script, "--help"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: guidance-engine [-h] COMMAND ...")
    # argparse widens the column to fit the longest command name (llmcompiler).
    assert re.search(r"\n    cache +list or clear the model cache\n", result.stdout)
    assert re.search(r"\n    llmcompiler\n +LLMCompiler and ReAct benchmark runs\n", result.stdout)
    cache = subprocess.run([script, "cache", "--help"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert cache.returncode == 0 and "clear     delete cache entries" in cache.stdout
