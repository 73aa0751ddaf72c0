"""Matcher transitions on the byte vocabulary (exact), fast-forward, masks and result splitting."""

from __future__ import annotations

import pytest
import torch

from guidance_engine.constraints import (
    ConstraintSpec,
    Matcher,
    MatchResult,
    TokenIndex,
    incomplete_output_error,
)
from guidance_engine.errors import ConstraintError, Span

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def allowed(m: Matcher) -> tuple[bytes, bool]:
    """(allowed bytes, EOS allowed) on the byte vocabulary."""
    ids = m.allowed_tokens()
    return bytes(t for t in ids if t < 256), 256 in ids


def test_pattern_transitions(byte_index: TokenIndex) -> None:
    m = Matcher(ConstraintSpec(pattern="[0-9]{2}"), byte_index)
    assert allowed(m) == (b"0123456789", False)
    m.consume(ord("4"))
    assert allowed(m) == (b"0123456789", False) and not m.is_accepting()
    m.consume(ord("2"))
    assert allowed(m) == (b"", True)
    assert m.is_accepting() and m.is_finished()
    assert m.result() == MatchResult(value="42", stop_text="", complete=True)


def test_valid_prefix_counts_what_the_constraint_would_take_without_committing(
    byte_index: TokenIndex,
) -> None:
    m = Matcher(ConstraintSpec(pattern="[0-9]+ apples"), byte_index)
    assert m.valid_prefix(list(b"12a")) == 2
    assert m.valid_prefix(list(b"12 apples")) == 9
    assert m.valid_prefix([]) == 0
    assert m.tokens == ()  # nothing was committed
    m.consume(ord("7"))
    assert m.valid_prefix(list(b" apples")) == 7 and m.valid_prefix(list(b"x")) == 0
    healing = Matcher(ConstraintSpec(healing_prefix=" "), byte_index)
    assert healing.valid_prefix([ord(" ")]) == 0  # no drafts while the healed text is due


def test_options_force_the_rest_of_an_option(byte_index: TokenIndex) -> None:
    m = Matcher(ConstraintSpec(options=("yes", "no")), byte_index)
    assert allowed(m) == (b"ny", False)
    assert m.forced_tokens() == []
    m.consume(ord("y"))
    assert m.forced_text() == b"es"
    assert m.forced_tokens() == [ord("e"), ord("s")]
    m.consume_all(m.forced_tokens())
    assert m.forced_count == 2
    assert m.is_finished() and m.result().value == "yes"


def test_options_that_prefix_each_other(byte_index: TokenIndex) -> None:
    m = Matcher(ConstraintSpec(options=("yes", "yesterday")), byte_index)
    m.consume_all(list(b"yes"), forced=False)
    # 'yes' is complete (EOS allowed) but 'yesterday' can still continue
    assert allowed(m) == (b"t", True)
    assert m.is_accepting() and not m.is_finished()
    assert m.forced_tokens() == []  # EOS is a choice too, so nothing is forced yet
    m.consume(ord("t"))
    assert m.forced_text() == b"erday"
    m.consume_all(m.forced_tokens())
    assert m.is_finished()
    assert m.result() == MatchResult(value="yesterday", stop_text="", complete=True)


def test_stop_strings_and_stop_regex_end_the_value(byte_index: TokenIndex) -> None:
    spec = ConstraintSpec(pattern="[0-9]+", stop=("\n",), stop_regex=("END[0-9]",))
    m = Matcher(spec, byte_index)
    assert allowed(m) == (b"0123456789", False)
    m.consume_all(list(b"12"), forced=False)
    assert allowed(m) == (b"\n0123456789E", True)
    assert m.is_accepting() and not m.is_finished()
    m.consume_all(list(b"END7"), forced=False)
    assert m.is_finished()
    assert m.result() == MatchResult(value="12", stop_text="END7", complete=True)
    m.rollback(4)
    assert m.text() == b"12" and allowed(m) == (b"\n0123456789E", True)
    assert m.result() == MatchResult(value="12", stop_text="", complete=True)
    m.consume(ord("\n"))
    assert m.result() == MatchResult(value="12", stop_text="\n", complete=True)


def test_disallowed_token_is_an_error(byte_index: TokenIndex) -> None:
    m = Matcher(ConstraintSpec(pattern="[0-9]+"), byte_index)
    m.consume_all(list(b"12"), forced=False)
    with pytest.raises(ConstraintError) as info:
        m.consume(ord("x"))
    assert str(info.value) == "token 120 (b'x') is not allowed by pattern '[0-9]+' after b'12'"


def test_rollback_past_the_start_is_a_bug(byte_index: TokenIndex) -> None:
    m = Matcher(ConstraintSpec(pattern="[0-9]+"), byte_index)
    m.consume(ord("1"))
    with pytest.raises(RuntimeError, match="cannot roll back 2 of 1 tokens"):
        m.rollback(2)


def test_invalid_spec_is_rejected_before_use(byte_index: TokenIndex) -> None:
    with pytest.raises(ConstraintError, match="backreferences are not supported"):
        Matcher(ConstraintSpec(pattern=r"(a)\1"), byte_index)


def test_masks_in_three_shapes(byte_index: TokenIndex) -> None:
    m = Matcher(ConstraintSpec(pattern="[ab]"), byte_index)
    mask = m.mask()
    assert mask.dtype == torch.bool and mask.shape == (257,)
    assert torch.nonzero(mask).flatten().tolist() == [97, 98]
    # the model's logits may be wider than the tokenizer: extra ids are never allowed
    logits = torch.zeros(1, 300)
    m.apply_mask(logits)
    assert torch.isfinite(logits[0]).nonzero().flatten().tolist() == [97, 98]
    bits = torch.zeros(9, dtype=torch.int32)
    m.fill_bitmask(bits)
    assert bits.tolist() == [0, 0, 0, 0b110, 0, 0, 0, 0, 0]


def test_healing_prefix_then_free_text(byte_index: TokenIndex) -> None:
    m = Matcher(ConstraintSpec(healing_prefix="ab"), byte_index)
    assert allowed(m) == (b"a", False)
    m.consume(ord("a"))
    assert not m.is_free()
    m.consume(ord("b"))
    assert m.is_free() and m.is_accepting()
    assert m.result() == MatchResult(value="", stop_text="", complete=True)


def test_json_schema_fast_forwards_fixed_keys(smol: TokenIndex) -> None:
    m = Matcher(ConstraintSpec(json_schema=SCHEMA), smol)
    assert m.forced_text() == b'{"name": "'
    forced = m.forced_tokens()
    assert [smol.token_bytes(t) for t in forced] == [b'{"', b"name", b'":']
    m.consume_all(forced)
    # the closing quote of "name" and the space may merge with the string, so they wait
    assert m.forced_tokens() == []
    m.consume_all(smol.encode(' "Bob'), forced=False)
    m.consume_all(smol.encode('",'), forced=False)
    assert m.forced_text() == b' "age": '
    m.consume_all(m.forced_tokens())
    assert m.forced_count == 3 + len(smol.encode(' "age":'))
    assert m.forced_text() == b" "  # held back: ' ' may merge with the number
    m.consume_all(smol.encode(" 42}"), forced=False)
    assert m.is_finished()
    assert m.result().value == '{"name": "Bob", "age": 42}'


def test_incomplete_output_error_message() -> None:
    spec = ConstraintSpec(pattern="[0-9]{3}-[0-9]{4}")
    err = incomplete_output_error(spec, "555-12", gen_name="phone")
    assert str(err) == (
        "gen 'phone' stopped (max_tokens) before its pattern '[0-9]{3}-[0-9]{4}' was complete;"
        " partial output: '555-12' (pass allow_partial=True to keep the partial value)"
    )
    source = "Phone: {{gen 'phone' pattern='[0-9]{3}-[0-9]{4}'}}"
    err = incomplete_output_error(
        spec, "5", gen_name="phone", reason="eos", span=Span(7, 51, 1, 8), source=source
    )
    assert str(err) == (
        "gen 'phone' stopped (eos) before its pattern '[0-9]{3}-[0-9]{4}' was complete;"
        " partial output: '5' (pass allow_partial=True to keep the partial value)"
        " (line 1, column 8)\n"
        "    Phone: {{gen 'phone' pattern='[0-9]{3}-[0-9]{4}'}}\n"
        "           ^"
    )


def test_special_tokens_never_allowed_inside_a_value(smol: TokenIndex) -> None:
    m = Matcher(ConstraintSpec(pattern="(?s:.*)"), smol)
    allowed = set(m.allowed_tokens())
    specials = {t for t in range(smol.vocab_size) if smol.is_special(t)}
    assert specials & allowed == {smol.eos_id}  # EOS only, because '.*' is already complete
    m = Matcher(ConstraintSpec(pattern="(?s:.+)"), smol)
    assert not specials & set(m.allowed_tokens())


def test_first_token_after_healing_starts_with_the_whole_healed_text(smol: TokenIndex) -> None:
    m = Matcher(ConstraintSpec(healing_prefix=' "'), smol)
    first = m.allowed_tokens()
    assert first and all(smol.token_bytes(t).startswith(b' "') for t in first)
    m.consume(first[0])  # from the second token on, the grammar alone decides
    assert any(not smol.token_bytes(t).startswith(b' "') for t in m.allowed_tokens())
