"""guidance_engine: Handlebars-style templates for LLM programs, with the Guidance 0.0.64 API.

The module itself is callable::

    import guidance_engine as guidance
    guidance.llm = guidance.llms.Mock("Bob")
    out = guidance("Name: {{gen 'name'}}")()
    out["name"]  # 'Bob'
"""

from __future__ import annotations

import sys
import types
from typing import Any

from guidance_engine import llms
from guidance_engine.defaults import resolve_llm as default_llm
from guidance_engine.defaults import set_default_llm, stored_llm
from guidance_engine.display.presenter import DisplayPresenter
from guidance_engine.errors import (
    ConstraintError,
    ContextOverflowError,
    GuidanceError,
    IncompleteOutputError,
    ModelAPIError,
    ModelError,
    ModelLoadError,
    PositionedError,
    Span,
    TemplateRuntimeError,
    TemplateSyntaxError,
    UndefinedVariableError,
)
from guidance_engine.llms.base import LLM
from guidance_engine.llms.capabilities import Capabilities
from guidance_engine.runtime import events
from guidance_engine.runtime.presenting import use_presenter
from guidance_engine.runtime.program import Program, load

use_presenter(DisplayPresenter())  # programs are shown by the display layer

#: The default model used by programs created without `llm=`; read at call time. It is kept in
#: `guidance_engine.defaults` (the module class below forwards the attribute there).
llm: LLM | None

__all__ = [
    "Capabilities",
    "ConstraintError",
    "ContextOverflowError",
    "GuidanceError",
    "IncompleteOutputError",
    "ModelAPIError",
    "ModelError",
    "ModelLoadError",
    "PositionedError",
    "Program",
    "Span",
    "TemplateRuntimeError",
    "TemplateSyntaxError",
    "UndefinedVariableError",
    "default_llm",
    "events",
    "llm",
    "llms",
    "load",
]


class _CallableModule(types.ModuleType):
    """Makes `guidance(template, ...)` work, as in Guidance 0.0.64, and `guidance.llm` read and
    set the default model in `guidance_engine.defaults`."""

    @property
    def llm(self) -> LLM | None:
        value: LLM | None = stored_llm()
        return value

    @llm.setter
    def llm(self, value: LLM | None) -> None:
        set_default_llm(value)

    def __call__(
        self,
        template: str,
        llm: LLM | None = None,
        silent: bool | None = None,
        stream: bool | None = None,
        async_mode: bool = False,
        caching: bool | None = None,
        await_missing: bool = False,
        log: bool = False,
        **variables: Any,
    ) -> Program:
        """A Program for `template`; raises TemplateSyntaxError before any model call."""
        return Program(
            template, llm=llm, silent=silent, stream=stream, async_mode=async_mode,
            caching=caching, await_missing=await_missing, log=log, **variables,
        )


sys.modules[__name__].__class__ = _CallableModule
