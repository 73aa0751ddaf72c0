"""Healed and forced tokens located in a gen's value (llms/marks.py), on hand-made byte ranges,
and reported by the real model's decode loop for a template that heals and one whose JSON keys
fast-forward."""

from __future__ import annotations

from typing import Any

import guidance_engine as guidance
from guidance_engine.llms.base import TokenMark
from guidance_engine.llms.marks import value_marks
from guidance_engine.runtime import events as ev


def test_a_healed_token_covers_the_backed_up_text_and_the_value_it_starts() -> None:
    assert value_marks(b" John", b" ", "John", [("healed", 0, 5)]) == (
        TokenMark("healed", 0, 4, " John", backed_up=" "),)
    assert TokenMark("healed", 0, 4, " John", " ").note == (
        "healing backed up ' ' and the model chose ' John'")


def test_a_re_chosen_healed_token_is_an_empty_mark_at_the_start() -> None:
    assert value_marks(b" Paris", b" ", "Paris", [("healed", 0, 1)]) == (
        TokenMark("healed", 0, 0, " ", backed_up=" "),)


def test_runs_of_forced_tokens_merge_and_offsets_count_characters() -> None:
    raw = 'é{"name": "x"}'.encode()
    spans: list[Any] = [("forced", 2, 4), ("forced", 4, 8), ("forced", 8, 11),
                        ("forced", 13, 15)]
    marks = value_marks(raw, b"", 'é{"name": "x"}', spans)
    assert marks == (TokenMark("forced", 1, 10, '{"name": '), TokenMark("forced", 12, 14, '"}'))
    assert marks[0].note == "forced by the constraint, no sampling: '{\"name\": '"


def test_forced_bytes_past_the_value_are_left_out() -> None:
    assert value_marks(b'ab"', b"", "ab", [("forced", 2, 3)]) == ()


def test_the_real_model_reports_healing_and_fast_forward(smol_llm: Any) -> None:
    healed = guidance("The capital of France is {{gen 'city' max_tokens=3 stop='.'}}",
                      llm=smol_llm, log=True)()
    [end] = [e for e in healed.log if isinstance(e, ev.GenEnd)]
    assert healed["city"] == "Paris"
    assert end.marks == (TokenMark("healed", 0, 5, " Paris", backed_up=" "),)
    schema = {"type": "object", "properties": {"name": {"type": "string"},
                                               "age": {"type": "integer"}},
              "required": ["name", "age"]}
    person = guidance("A person as JSON: {{gen 'p' json_schema=schema max_tokens=30}}",
                      llm=smol_llm, log=True)(schema=schema)
    [end] = [e for e in person.log if isinstance(e, ev.GenEnd)]
    value = person["p"]
    forced = [value[m.start:m.end] for m in end.marks if m.kind == "forced"]
    assert forced == ['name":', ' "age":']  # the keys, written by the constraint alone
    assert [m.kind for m in end.marks] == ["healed", "forced", "forced"]
    record = next(e for e in person.log if isinstance(e, ev.ModelCallRecord))
    assert record.result.marks == end.marks
    assert record.stats.forced_tokens >= 3
