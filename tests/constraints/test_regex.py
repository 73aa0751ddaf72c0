"""The one regex dialect: the engine reads `pattern=` for the mask and for the finished value."""

from __future__ import annotations

import re

import pytest

from guidance_engine.constraints.regex import RegexSearch, full_match
from guidance_engine.errors import ConstraintError


def test_full_match_is_a_whole_string_match() -> None:
    assert full_match(r"\d+", "2024")
    assert not full_match(r"\d+", "20 24")
    assert not full_match(r"\d+", "")
    assert full_match(r"[a-z .]+", "ab c.")
    assert full_match(r"é+", "éé")


@pytest.mark.filterwarnings("ignore:Possible set intersection:FutureWarning")
def test_full_match_reads_the_engine_syntax_not_pythons() -> None:
    # Class intersection: Python's re reads `&&` as two literal ampersands.
    assert re.fullmatch(r"[a-z&&[^aeiou]]+", "bcd") is None
    assert full_match(r"[a-z&&[^aeiou]]+", "bcd")
    assert not full_match(r"[a-z&&[^aeiou]]+", "bad")
    # Rust-only escapes and classes that Python's re refuses.
    assert full_match(r"\x{263A}", "\u263a")
    assert full_match(r"\p{Lu}\p{Ll}+", "Paris")


def test_regex_search_finds_the_leftmost_match_as_long_as_the_text_read_allows() -> None:
    search = RegexSearch(r"\d+")
    search.extend("ab 12")
    assert search.match() == (3, 5)
    search.extend("3 x 45")
    assert search.match() == (3, 6)  # the leftmost match grows; the later 45 never counts


def test_regex_search_reports_where_a_possible_match_begins() -> None:
    search = RegexSearch(r"Observation:")
    search.extend("Thought: done. Obser")
    assert (search.match(), search.pending()) == (None, 15)
    search.extend("ved")
    assert (search.match(), search.pending()) == (None, 23)  # nothing pending: the end


def test_regex_search_of_a_refused_pattern_raises_the_engines_reason() -> None:
    with pytest.raises(ConstraintError) as info:
        RegexSearch(r"(a)\1")
    assert str(info.value) == ("stop_regex '(a)\\\\1' is not supported: backreferences are "
                               "not supported\n    (a)\\1\n       ^^")


def test_full_match_of_a_pattern_the_engine_refuses_is_false() -> None:
    assert not full_match(r"(a)\1", "aa")
    assert not full_match(r"(?=a)a", "a")
