"""Loading a benchmark: its questions file is checked record by record, naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler.benchmarks import load_benchmark

DOCS = [{"title": "Nile", "aliases": [], "text": "The Nile is a river."}]


def load_error(folder: Path, questions: str) -> str:
    (folder / "movie_docs.json").write_text(json.dumps(DOCS))
    (folder / "movie_recommendations.json").write_text(questions)
    with pytest.raises(GuidanceError) as error:
        load_benchmark("movie", folder)
    return str(error.value)


def test_malformed_questions_are_reported_with_the_file_and_record(tmp_path: Path) -> None:
    path = tmp_path / "movie_recommendations.json"
    assert load_error(tmp_path, '[{"id": "0", "question": "q"') == (
        f"{path} is not valid JSON (the movie questions expected): Expecting ',' delimiter at "
        "line 1, column 29")
    assert load_error(tmp_path, '[{"id": "0", "question": "q"}]') == (
        f"{path}: record 0 lacks 'answer'; expected a {{'id', 'question', 'answer'}} object")
    assert load_error(tmp_path, '{"0": {"question": "q"}}') == (
        f"{path}: expected a JSON list of {{'id', 'question', 'answer'}} records; found a JSON "
        "object")


def test_a_repeated_question_id_is_refused_since_the_store_keys_answers_by_id(
        tmp_path: Path) -> None:
    questions = [{"id": 7, "question": "a", "answer": "x"},
                 {"id": "7", "question": "b", "answer": "y"}]
    assert load_error(tmp_path, json.dumps(questions)) == (
        f"{tmp_path}/movie_recommendations.json: records 0 and 1 have the same id '7'; "
        "expected unique ids")


def test_a_well_formed_folder_loads(tmp_path: Path) -> None:
    (tmp_path / "movie_docs.json").write_text(json.dumps(DOCS))
    (tmp_path / "movie_recommendations.json").write_text(
        json.dumps([{"id": 1, "question": "q", "answer": "a"}]))
    bench = load_benchmark("movie", tmp_path)
    assert [(q.id, q.question, q.answer) for q in bench.questions] == [("1", "q", "a")]
    assert bench.docstore.search("Nile") == "The Nile is a river."
