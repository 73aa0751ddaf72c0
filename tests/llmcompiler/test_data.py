"""The benchmark data ships with the package: in the wheel, with its licences, found without
`--data`, and valid by the data set's own checker (`check_data.py`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from guidance_engine.llmcompiler.benchmarks import DATA, DATA_ENV, find_data_dir, load_benchmark

from .test_cli import cli

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_data_passes_its_checker() -> None:
    done = subprocess.run([sys.executable, str(Path(__file__).parent / "check_data.py"),
                           "--dir", str(DATA)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines()[-1] == (
        "data ok: parallelqa 83/83 reproduced (2 shared-side questions dropped), hotpotqa 80 q, "
        "movie 60 q")


def test_the_wheel_holds_every_data_file_and_the_licences(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "guidance_engine", source / "guidance_engine",
                    ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"),
                           str(source)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name.rpartition("/")[2] for name in archive.namelist()
                   if name.startswith("guidance_engine/llmcompiler/data/")}
        prompts = {name.rpartition("/")[2] for name in archive.namelist()
                   if name.startswith("guidance_engine/llmcompiler/prompts/")}
    assert shipped == {path.name for path in DATA.iterdir()}
    assert "LICENSES.md" in shipped and len(shipped) == 9
    source = {p.name for p in (DATA.parent / "prompts").rglob("*") if p.is_file()}
    assert prompts == source  # the shared system text's sections ship too


def test_without_the_environment_variable_the_shipped_data_is_used() -> None:
    env = {key: value for key, value in os.environ.items() if key != DATA_ENV}
    code = ("from guidance_engine.llmcompiler.benchmarks import load_benchmark as b\n"
            "print(*(len(b(n).questions) for n in ('parallelqa', 'hotpotqa', 'movie')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(ROOT)}, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "83 80 60\n"


def test_the_environment_variable_names_another_folder(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(DATA / "movie_docs.json", tmp_path)
    (tmp_path / "movie_recommendations.json").write_text(
        '[{"id": "7", "question": "Find a movie similar to Heat: Options: (A) Ronin", '
        '"answer": "(A)"}]', encoding="utf-8")
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert find_data_dir() == tmp_path
    assert [q.id for q in load_benchmark("movie").questions] == ["7"]
    monkeypatch.delenv(DATA_ENV)
    assert find_data_dir() == DATA


def test_cli_run_needs_no_data_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The run reads the shipped questions, then stops at the missing model option: the error
    # is the model's, not the data's.
    monkeypatch.delenv(DATA_ENV, raising=False)
    done = cli("run", "--benchmark", "movie", "--store", str(tmp_path / "s.json"),
               "--model_type", "llamacpp")
    assert done.returncode == 2
    assert done.stderr == ("error: --model_type llamacpp needs --model_path X.gguf (a server is "
                           "started on it) or --api_base URL (a running server)\n")
