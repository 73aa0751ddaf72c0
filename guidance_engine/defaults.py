"""The default model: what a program made without `llm=` runs on, read at call time.

`guidance.llm = model` stores it here (the package root forwards the attribute), and every layer
that needs it (programs, LLMCompiler) reads it here instead of importing the package root::

    set_default_llm(Mock("Bob"))
    default_llm()   # the Mock
"""

from __future__ import annotations

from typing import Any

from guidance_engine.errors import GuidanceError
from guidance_engine.llms.base import LLM


class _Slot:
    """Holds the one process-wide setting (0.0.64's `guidance.llm`); unchecked until read."""

    value: Any = None


_DEFAULT = _Slot()


def check_llm(value: Any) -> None:
    """`llm=` must be a model object (or None for the default model)."""
    if value is not None and not isinstance(value, LLM):
        raise GuidanceError(
            f"llm must be a model such as guidance.llms.Transformers() or guidance.llms.Mock(); "
            f"found {type(value).__name__} {value!r}"
        )


def default_llm() -> LLM | None:
    """The model set by `guidance.llm = ...` (None when unset); a non-model is an error here,
    where it would be used (setting it is never refused)."""
    value = stored_llm()
    check_llm(value)
    assert value is None or isinstance(value, LLM)
    return value


def stored_llm() -> Any:
    """What `guidance.llm` was set to, unchecked (reading the attribute never fails)."""
    return _DEFAULT.value


def set_default_llm(value: Any) -> None:
    """Store the default model (`guidance.llm = value`); checked when a program reads it."""
    _DEFAULT.value = value


def resolve_llm(llm: LLM | None = None) -> LLM | None:
    """`llm` when given, else the default model (`guidance.default_llm()` at the root)."""
    return llm if llm is not None else default_llm()
