"""Masks against a brute-force scan of the SmolLM2 vocabulary, on a handful of real steps.

Brute force: a token is allowed when the text so far plus the token's text can still be
extended to a full match (the `regex` module's partial matching); EOS when the text so far
fully matches. The engine must allow a subset (sound) that is never empty while the brute
force allows something (never starves). It allows *fewer* tokens in exactly one deliberate
case: when the next bytes are forced, it only allows the canonical tokenization of the forced
text, not other splits of it (for '{"' + forced 'name', the token 'name' but not 'n' or 'na').
"""

from __future__ import annotations

import re

import pytest
import regex

from guidance_engine.constraints import ConstraintSpec, Matcher, TokenIndex

# Per step (start, then after each piece): did the engine allow fewer tokens than brute force?
# Each True is a forced-text step: 'es' after 'y'; '{"name": "' at the start and its rest;
# '://' (the healing prefix ':' plus the pattern's '//').
NARROWED = {
    "[0-9]{3}-[0-9]{4}": [False, False, False, False],
    "(yes|no|maybe)": [False, True],
    r"[a-z]+@[a-z]+\.(com|org)": [False, False, False, False, False],
    r'\{"name": "[A-Za-z ]{1,20}", "age": [0-9]{1,3}\}': [True, True, True, False, False],
    "//[a-z]+": [True, False, False],
}

CASES = [
    ("[0-9]{3}-[0-9]{4}", "", ["555", "-", "12"]),
    ("(yes|no|maybe)", "", ["y"]),
    (r"[a-z]+@[a-z]+\.(com|org)", "", ["bob", "@", "example", "."]),
    (r'\{"name": "[A-Za-z ]{1,20}", "age": [0-9]{1,3}\}', "", ['{"', "name", '": "', "Al"]),
    ("//[a-z]+", ":", ["://", "www"]),  # healing prefix ':' composed with a pattern
]


@pytest.fixture(scope="module")
def vocab_text(smol: TokenIndex) -> dict[int, str]:
    """Every non-special token that is valid UTF-8 on its own, as text."""
    texts = {}
    for token in range(smol.vocab_size):
        data = smol.token_bytes(token)
        try:
            if data:
                texts[token] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return texts


def brute_force(pattern: str, so_far: str, texts: dict[int, str], eos: int) -> set[int]:
    rx = regex.compile(pattern)
    allowed = {t for t, s in texts.items() if rx.fullmatch(so_far + s, partial=True)}
    if rx.fullmatch(so_far):
        allowed.add(eos)
    return allowed


@pytest.mark.parametrize(("pattern", "prefix", "steps"), CASES)
def test_masks_are_sound_and_never_starve(
    smol: TokenIndex, vocab_text: dict[int, str], pattern: str, prefix: str, steps: list[str]
) -> None:
    matcher = Matcher(ConstraintSpec(pattern=pattern, healing_prefix=prefix), smol)
    full = re.escape(prefix) + f"(?:{pattern})"
    so_far = ""
    narrowed: list[bool] = []
    for step in [None, *steps]:
        if step is not None:
            matcher.consume_all(smol.encode(step), forced=False)
            so_far += step
        engine = set(matcher.allowed_tokens())
        brute = brute_force(full, so_far, vocab_text, smol.eos_id)
        assert engine <= brute, f"unsound after {so_far!r}: {engine - brute}"
        assert engine or not brute, f"starved after {so_far!r}"
        narrowed.append(engine != brute)
        if engine != brute:
            forced = matcher.forced_text()
            canonical = smol.token_bytes(smol.encode(forced)[0])
            # only other splits of the forced text are left out; its canonical first token stays
            assert engine == {smol.encode(forced)[0]}, (so_far, forced)
            assert all(forced.startswith(smol.token_bytes(t)) for t in brute - engine)
            assert canonical in {smol.token_bytes(t) for t in brute}
    assert narrowed == NARROWED[pattern]
