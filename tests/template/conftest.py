"""Golden-file support for the template front-end tests.

Each `golden/<name>.hbs` template has one expected output per stage next to it
(`<name>.tokens`, `<name>.ast`, `<name>.listing`). Run with GOLDEN_UPDATE=1 to rewrite them,
then review the diff: a golden file is only as good as the reading it got.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def golden() -> Callable[[str, str, str], None]:
    def check(name: str, suffix: str, actual: str) -> None:
        path = GOLDEN / f"{name}.{suffix}"
        if os.environ.get("GOLDEN_UPDATE") == "1":
            path.write_text(actual + "\n", encoding="utf-8")
            return
        assert path.exists(), f"missing golden file {path}; run with GOLDEN_UPDATE=1"
        assert actual + "\n" == path.read_text(encoding="utf-8")

    return check
