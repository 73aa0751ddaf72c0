"""The store file: resumes only a run with the same settings, and never half-written or mixed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler.runner import Store, read_store

CONFIG = {"benchmark": "movie", "agent": "llmcompiler", "stream": False, "tool_latency": "0"}
RECORD = {"question": "q", "label": "a", "answer": "a", "latency": 1.0,
          "usage": {"input_tokens": 10, "output_tokens": 2, "model_calls": 1}, "replans": 0}


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def open_error(path: Path, config: dict[str, Any]) -> str:
    before = path.read_bytes()
    with pytest.raises(GuidanceError) as error:
        Store.open(path, config)
    assert path.read_bytes() == before  # a refused store is left exactly as it was
    return str(error.value)


def test_a_resume_with_any_other_setting_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", {"config": CONFIG, "results": {"0": RECORD}})
    assert open_error(path, {**CONFIG, "stream": True}) == (
        f"{path} holds a run with stream=False, not True; use another --store file (or delete "
        "it) to start a new run")
    assert open_error(path, {**CONFIG, "tool_latency": "paper"}) == (
        f"{path} holds a run with tool_latency='0', not 'paper'; use another --store file (or "
        "delete it) to start a new run")
    assert Store.open(path, CONFIG).results == {"0": RECORD}


def test_results_that_do_not_say_whose_they_are_are_not_resumed(tmp_path: Path) -> None:
    path = write(tmp_path / "s.json", {"results": {"0": RECORD}})
    assert open_error(path, CONFIG) == (
        f"{path} holds results without a recorded benchmark, so they may be from another run "
        "than benchmark='movie'; use another --store file")
    empty = write(tmp_path / "empty.json", {"results": {}})
    assert Store.open(empty, CONFIG).config == CONFIG


def test_a_store_whose_config_or_records_are_malformed_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    write(path, {"config": ["movie"], "results": {}})
    assert open_error(path, CONFIG) == (
        f"{path}: 'config' is a JSON list; expected an object of run settings")
    write(path, {"config": CONFIG, "results": {"0": 5}})
    assert open_error(path, CONFIG) == (
        f"{path}: the result of question '0' is a JSON number; expected an object")
    write(path, {"config": CONFIG, "results": {"0": {"answer": "a"}}})
    assert open_error(path, CONFIG) == (
        f"{path}: the result of question '0' lacks 'label', 'latency', 'usage'")
    write(path, {"config": CONFIG, "results": {"0": {**RECORD, "usage": 3}}})
    assert open_error(path, CONFIG) == (
        f"{path}: the result of question '0' has usage 3; expected {{'input_tokens': N, "
        "'output_tokens': N}")
    write(path, {"config": CONFIG, "results": {"0": {**RECORD, "answer": 42}}})
    assert open_error(path, CONFIG) == (
        f"{path}: the result of question '0' has answer 42; expected a string or null")
    write(path, {"config": CONFIG, "results": {"0": {**RECORD, "latency": "1s"}}})
    assert open_error(path, CONFIG) == (
        f"{path}: the result of question '0' has latency '1s'; expected a number")
    path.write_text('{"config": {}, "results": {"0": {"ans')
    assert open_error(path, CONFIG) == (
        f"{path} is not valid JSON (a store file expected): Unterminated string starting at "
        "line 1, column 34")
    assert read_store(write(path, {"config": CONFIG, "results": {"0": RECORD}}))["results"] == {
        "0": RECORD}


def test_saving_keeps_the_users_permissions_and_an_interrupt_leaves_no_stray_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "s.json", {"config": CONFIG, "results": {}})
    path.chmod(0o644)
    store = Store.open(path, CONFIG)
    store.results["0"] = RECORD
    store.save()
    assert (path.stat().st_mode & 0o777, read_store(path)["results"]) == (0o644, {"0": RECORD})

    def interrupted(source: str, target: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    store.results["1"] = RECORD
    with pytest.raises(KeyboardInterrupt):
        store.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]
    assert list(read_store(path)["results"]) == ["0"]


def test_a_store_that_cannot_be_written_is_reported_before_any_question_runs(
        tmp_path: Path) -> None:
    (tmp_path / "runs").write_text("notes")
    path = tmp_path / "runs" / "s.json"
    with pytest.raises(GuidanceError) as error:
        Store.open(path, CONFIG)
    assert str(error.value) == (f"cannot create the folder of the store file {path}: "
                                f"{tmp_path}/runs is a file; expected a folder")
    assert (tmp_path / "runs").read_text() == "notes"
    nested = tmp_path / "new" / "folder" / "s.json"
    Store.open(nested, CONFIG)
    assert nested.parent.is_dir()
