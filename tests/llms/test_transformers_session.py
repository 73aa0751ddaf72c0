"""Per-row decoding state of the Transformers session: text read incrementally from bytes."""

from __future__ import annotations

from guidance_engine.llms.base import GenRequest
from guidance_engine.llms.transformers_decode import Row


def row(heal: bytes = b"", stop: tuple[str, ...] = ()) -> Row:
    return Row(GenRequest(prompt="", stop=stop), 0, None, heal, 100)


def test_a_character_split_across_tokens_appears_once_complete() -> None:
    r = row()
    r.raw += b"caf" + "é".encode()[:1]
    assert r.read_new_text() == "caf"
    r.raw += "é".encode()[1:] + b"!"
    assert r.read_new_text() == "é!"
    assert r.full == "café!"


def test_an_invalid_byte_is_replaced_once_and_the_text_only_grows() -> None:
    r = row()
    r.raw += b"a\xff" + "é".encode()[:1]
    assert r.read_new_text() == "a\ufffd"
    r.raw += "é".encode()[1:] + b"\xe2\x82"
    assert r.read_new_text() == "é"
    r.raw += b"\xac"
    assert (r.read_new_text(), r.full) == ("\u20ac", "a\ufffdé\u20ac")


def test_the_healed_prefix_is_not_part_of_the_text() -> None:
    r = row(heal=b" ")
    assert r.read_new_text() == ""
    r.raw += b" John"
    assert (r.read_new_text(), r.full) == ("John", "John")


def test_rescan_looks_for_stops_past_a_position() -> None:
    r = row(stop=(".",))
    r.raw += b"3.14."
    r.scanner.feed(r.read_new_text())
    assert (r.scanner.text, r.scanner.stop_text) == ("3", ".")
    r.rescan(2)
    assert (r.scan_from, r.scanner.text, r.scanner.stop_text) == (2, "14", ".")
