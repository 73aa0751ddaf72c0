from __future__ import annotations

from pathlib import Path

import pytest

from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler.docstore import Doc, Docstore, first_sentences, normalize_key

DOCS = [
    Doc("Mount Everest", ("Everest", "Sagarmatha"),
        "Mount Everest is 8,849 m high. It lies in the Himalayas. Its first ascent was in 1953."),
    Doc("K2", ("Mount Godwin-Austen",), "K2 is 8,611 m high. It lies in the Karakoram."),
    Doc("Nile", ("Nile River",), "The Nile is a river of about 6,650 km in Africa."),
]


def test_exact_title_and_alias_ignore_case_and_punctuation() -> None:
    store = Docstore(DOCS)
    assert store.search("Mount Everest") == DOCS[0].text
    assert store.search("  sagarmatha! ") == DOCS[0].text
    assert store.search("mount godwin austen") == DOCS[1].text


def test_fuzzy_match_catches_typos_and_titles_inside_longer_queries() -> None:
    store = Docstore(DOCS)
    assert store.search("Mount Everst") == DOCS[0].text
    assert store.search("Nile river length") == DOCS[2].text


def test_bm25_answers_free_text_and_misses_name_similar_titles() -> None:
    store = Docstore(DOCS)
    assert store.search("which mountain is in the Karakoram") == DOCS[1].text
    assert store.search("Mont Blanc") == (
        "Could not find [Mont Blanc]. Similar: [Mount Everest, Nile, K2]")


def test_only_the_first_sentences_are_returned() -> None:
    assert Docstore(DOCS, sentences=2).search("Everest") == (
        "Mount Everest is 8,849 m high. It lies in the Himalayas.")
    assert first_sentences("Mt. Fuji is 3,776 m. It is a volcano.", 1) == "Mt. Fuji is 3,776 m."
    assert normalize_key("  The  Nile-River!") == "the nile river"


def test_load_reports_malformed_records(tmp_path: Path) -> None:
    bad = tmp_path / "docs.json"

    def error_for(text: str) -> str:
        bad.write_text(text)
        with pytest.raises(GuidanceError) as error:
            Docstore.load(bad)
        return str(error.value)

    assert error_for('[{"title": "x"}]') == (f"{bad}: record 0 lacks 'text'; expected a "
                                             "{'title', 'text'} object")
    assert error_for('[{"title": "x", "text": "y"},\n {"title": ') == (
        f"{bad} is not valid JSON (a docstore expected): Expecting value at line 2, column 12")
    assert error_for("[]") == f"{bad}: a docstore needs at least one document; found none"
    assert error_for('[{"title": 3, "text": "y"}]') == (
        f"{bad}: record 0 has a title of type int; expected a string")
    # A string of aliases would otherwise become one alias per character.
    assert error_for('[{"title": "Nile", "aliases": "Nile River", "text": "y"}]') == (
        f"{bad}: record 0 ('Nile') has aliases 'Nile River'; expected a list of strings")
    assert error_for('{"title": "x"}') == (f"{bad}: expected a JSON list of {{'title', 'text'}} "
                                           "records; found a JSON object")


def test_every_parallelqa_entity_is_found_by_its_name(data_dir: Path) -> None:
    import json

    store = Docstore.load(data_dir / "parallelqa_docs.json")
    solutions = json.loads((data_dir / "parallelqa_solutions.json").read_text())
    for value in solutions["values"].values():
        answer = store.search(value["entity"])
        assert value["text"].split()[0] in answer, (value["entity"], answer)
