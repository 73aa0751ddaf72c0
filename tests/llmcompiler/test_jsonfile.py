"""Reading user JSON files: every failure names the file, and a syntax error its line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler.jsonfile import read_json, records


def message(call: object, *args: object) -> str:
    with pytest.raises(GuidanceError) as error:
        call(*args)  # type: ignore[operator]
    return str(error.value)


def test_read_json_names_the_file_and_where_it_is_broken(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text('{"a": 1,\n "b": }')
    assert message(read_json, path, "a store file") == (
        f"{path} is not valid JSON (a store file expected): Expecting value at line 2, column 7")
    path.write_bytes(b'["\xff"]')
    assert message(read_json, path, "a docstore").startswith(
        f"{path} is not UTF-8 text (a docstore expected): 'utf-8' codec can't decode byte 0xff")
    assert message(read_json, tmp_path / "nope.json", "a store file") == (
        f"cannot read a store file from {tmp_path}/nope.json: No such file or directory")
    assert message(read_json, tmp_path, "a store file") == (
        f"cannot read a store file from {tmp_path}: Is a directory")


def test_records_names_the_first_record_that_is_not_an_object_with_the_fields() -> None:
    fields = ("id", "question")
    assert records([{"id": 1, "question": "q", "extra": 0}], "q.json", fields) == [
        {"id": 1, "question": "q", "extra": 0}]
    assert message(records, {"id": 1}, "q.json", fields) == (
        "q.json: expected a JSON list of {'id', 'question'} records; found a JSON object")
    assert message(records, [{"id": 1, "question": "q"}, "q2"], "q.json", fields) == (
        "q.json: record 1 is a JSON string; expected a {'id', 'question'} object")
    assert message(records, [{"question": "q"}], "q.json", fields) == (
        "q.json: record 0 lacks 'id'; expected a {'id', 'question'} object")
