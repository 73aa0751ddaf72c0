"""The examples of docs/templates.md run: every ```python block, in order, in one namespace."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import guidance_engine as guidance

DOC = Path(__file__).resolve().parent.parent / "docs" / "templates.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, code) of each ```python block."""
    return [(text.count("\n", 0, match.start(1)) + 1, match.group(1))
            for match in _BLOCK.finditer(text)]


@pytest.fixture(autouse=True)
def _reset_default_llm() -> Iterator[None]:
    saved = guidance.llm
    yield
    guidance.llm = saved


def test_python_blocks_are_found() -> None:
    text = "x\n```python\na = 1\n```\n```text\nno\n```\n```python\nb = 2\n```\n"
    assert python_blocks(text) == [(3, "a = 1\n"), (9, "b = 2\n")]


def test_every_python_example_in_the_template_docs_runs() -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 25
    namespace: dict[str, object] = {"__name__": "docs_templates"}
    for line, code in blocks:
        # The line offset makes a failing assert's traceback point at the line in the doc.
        compiled = compile("\n" * (line - 1) + code, str(DOC), "exec")
        exec(compiled, namespace)


def test_every_internal_link_of_the_template_docs_has_its_heading() -> None:
    text = DOC.read_text(encoding="utf-8")
    anchors = {_anchor(heading) for heading in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links - anchors == set()


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def test_every_python_example_in_the_notebook_docs_runs() -> None:
    doc = DOC.parent / "notebooks.md"
    blocks = python_blocks(doc.read_text(encoding="utf-8"))
    assert len(blocks) >= 4
    namespace: dict[str, object] = {"__name__": "docs_notebooks"}
    for line, code in blocks:
        exec(compile("\n" * (line - 1) + code, str(doc), "exec"), namespace)
