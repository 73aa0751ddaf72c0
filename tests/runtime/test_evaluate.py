"""Expression evaluation through the public template path: precedence and short-circuits."""

from __future__ import annotations

from typing import Any

import pytest

import guidance_engine as guidance


def value(expression: str, **variables: Any) -> str:
    return str(guidance("{{ " + expression + " }}")(**variables))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("7 % 4 - 1", "2"),
        ("-2 * -3", "6"),
        ("not 1 == 2", "True"),
        ("1 < 2 and 2 < 3", "True"),
        ("[1, 2][-1]", "2"),
        ("{'a': [1, 2]}['a'][0]", "1"),
        ("'ab' + 'c'", "abc"),
        ("None", ""),
        ("True", "True"),
        ("3.5", "3.5"),
    ],
)
def test_literals_and_precedence(expression: str, expected: str) -> None:
    assert value(expression) == expected


def test_and_or_short_circuit() -> None:
    calls: list[str] = []

    def side(name: str) -> str:
        calls.append(name)
        return name

    assert value("0 and side('a')", side=side) == "0"
    assert value("1 or side('b')", side=side) == "1"
    assert value("0 or side('c')", side=side) == "c"
    assert calls == ["c"]


def test_nested_paths_and_call_results() -> None:
    def make() -> dict[str, Any]:
        return {"rows": [{"id": 7}]}

    assert value("make().rows[0].id", make=make) == "7"
    assert value("add (add 1 2) (multiply 2 3)") == "9"
