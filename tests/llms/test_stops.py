"""The one stop/hold-back module every backend uses (Transformers, Mock, OpenAI)."""

from __future__ import annotations

from guidance_engine.llms.stops import StopScanner, cut_at_stop, find_stop, hold_back


def test_hold_back_covers_a_possible_stop_regex_match() -> None:
    assert hold_back("1, 2, 3, 4, 5", (), ("5,",)) == 1
    assert hold_back("1, 2, 3, 4", (), ("5,",)) == 0
    assert hold_back("total: 12", ("END",), (r"\d+ units",)) == 2


def test_hold_back_covers_a_stop_string_prefix() -> None:
    assert hold_back("Hello <|im", ("<|im_end|>",)) == 4
    assert hold_back("Hello", ("<|im_end|>",)) == 0


def test_find_stop_takes_the_earliest_of_strings_and_regexes() -> None:
    assert find_stop("a, b. c", (".", ",")) == (1, ",")
    assert find_stop("x 42 units. y", (".",), (r"\d+ units",)) == (2, "42 units")
    assert find_stop("abc", ("",)) is None  # an empty stop never matches
    assert cut_at_stop("yes.\nno", ("\n",)) == ("yes.", "\n")
    assert cut_at_stop("yes", ("\n",)) is None


def test_scanner_never_shows_text_a_stop_takes_back() -> None:
    scanner = StopScanner(stop=("<|im_end|>",))
    shown = [scanner.feed(d) for d in ["Hi", " there<|", "im_", "end|>", "tail"]]
    assert shown == ["Hi", " there", "", "", ""]
    assert (scanner.text, scanner.stop_text, scanner.stopped) == ("Hi there", "<|im_end|>", True)


def test_scanner_releases_a_held_tail_at_the_end() -> None:
    scanner = StopScanner(stop=("END",), stop_regex=(r"\d+ units",))
    assert scanner.feed("costs 12") == "costs "
    assert scanner.feed(" E") == "12 "  # no longer a possible "N units"; "E" may start "END"
    assert scanner.finish() == "E"
    assert (scanner.text, scanner.stopped) == ("costs 12 E", False)


def test_scanner_stops_on_a_regex_split_across_chunks() -> None:
    scanner = StopScanner(stop_regex=(r"\d+ units",))
    assert "".join(scanner.feed(d) for d in ["It is 4", "2 un", "its long"]) == "It is "
    assert (scanner.text, scanner.stop_text) == ("It is ", "42 units")


def test_stop_regexes_use_the_engine_syntax_of_patterns() -> None:
    # `\x{..}` and class intersection are the engine's (Rust) syntax; Python's re refuses the
    # first and reads `&&` literally, so a stop regex now means what the same pattern= means.
    assert find_stop("smile \u263a now", (), (r"\x{263A}",)) == (6, "\u263a")
    assert find_stop("a e x o", (), (r"[a-z&&[^aeiou]]",)) == (4, "x")


def test_scanner_keeps_a_greedy_regex_stop_as_long_as_its_chunk() -> None:
    scanner = StopScanner(stop_regex=(r"\n+",))
    assert scanner.feed("one\n\n\ntwo") == "one"
    assert (scanner.text, scanner.stop_text) == ("one", "\n\n\n")


def test_a_string_stop_split_across_many_chunks_is_found() -> None:
    scanner = StopScanner(stop=("<END>",))
    assert [scanner.feed(c) for c in "ab<EN"] == ["a", "b", "", "", ""]
    assert scanner.feed("D>c") == ""
    assert (scanner.text, scanner.stop_text) == ("ab", "<END>")
