"""Property: constrained sampling from random logits always yields a full match.

Random regexes from a family (classes, literals, bounded and unbounded repeats, nested
alternations), random seeds, temperature 1.0 over the real SmolLM2 vocabulary: whenever a run
ends by EOS or because nothing else is possible, the value fully matches the pattern (checked
with Python's `re`) and the stop text is one of the stops. A run cut by the token budget is
complete exactly when its value fully matches.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from guidance_engine.constraints import ConstraintSpec, Matcher, TokenIndex

ATOMS = ["[0-9]", "[a-z]", "[A-Z]", "[aeiou]", "[ -/]", ".", "x", "ab", "-", "@", " ", r"\.", "foo"]
QUANTIFIERS = ["", "", "?", "{2}", "{1,3}", "{0,4}", "+", "*"]


@st.composite
def regexes(draw: Any, depth: int = 0) -> str:
    pieces = []
    for _ in range(draw(st.integers(1, 4))):
        if depth < 2 and draw(st.integers(0, 4)) == 0:
            alts = draw(st.lists(regexes(depth + 1), min_size=2, max_size=3))
            atom = "(?:" + "|".join(alts) + ")"
        else:
            atom = draw(st.sampled_from(ATOMS))
        pieces.append(atom + draw(st.sampled_from(QUANTIFIERS)))
    return "".join(pieces)


def test_the_family_is_valid_python_regex() -> None:
    # a sanity check of the strategy itself: every drawn pattern compiles in `re`
    @given(regexes())
    @settings(max_examples=50, deadline=None)
    def check(pattern: str) -> None:
        re.compile(pattern)

    check()


@given(
    pattern=regexes(),
    seed=st.integers(0, 2**32 - 1),
    stop=st.sampled_from([(), ("\n",), (";", "!!")]),
)
@settings(max_examples=40, deadline=None)
def test_random_regex_outputs_fully_match(
    smol: TokenIndex, random_model: Any, pattern: str, seed: int, stop: tuple[str, ...]
) -> None:
    matcher = Matcher(ConstraintSpec(pattern=pattern, stop=stop), smol)
    run = random_model(smol, seed).run(matcher, max_tokens=40)
    result = matcher.result()
    matches = re.fullmatch(pattern, result.value) is not None
    assert result.stop_text in (*stop, "")
    assert "\ufffd" not in result.value  # never a split UTF-8 character
    if run.reason in ("eos", "finished"):
        assert matches, (pattern, result)
        assert result.complete
    else:
        assert result.complete == matches or result.stop_text, (pattern, result)


@given(seed=st.integers(0, 2**32 - 1), prefix=st.sampled_from([":", " wor", " ", '="']))
@settings(max_examples=20, deadline=None)
def test_healing_prefix_is_reproduced_then_the_pattern_matches(
    smol: TokenIndex, random_model: Any, seed: int, prefix: str
) -> None:
    pattern = "[a-z/]{1,8}"
    matcher = Matcher(ConstraintSpec(pattern=pattern, healing_prefix=prefix), smol)
    run = random_model(smol, seed).run(matcher, max_tokens=30)
    assert run.reason in ("eos", "finished")
    assert matcher.text().startswith(prefix.encode())
    assert re.fullmatch(pattern, matcher.result().value)
