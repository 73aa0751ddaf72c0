"""Model backends. `Transformers` and `OpenAI` import their heavy dependencies lazily.

`import guidance_engine` never imports torch: `guidance.llms.Transformers` is looked up on
first use through the module `__getattr__`.
"""

from __future__ import annotations

import importlib
from typing import Any

from guidance_engine.llms.base import LLM, GenStats
from guidance_engine.llms.cpu import physical_cores
from guidance_engine.llms.mock import Mock

_LAZY = {
    "Transformers": "guidance_engine.llms.transformers",
    "OpenAI": "guidance_engine.llms.openai",
    "LlamaCpp": "guidance_engine.llms.llamacpp",
    "local_model": "guidance_engine.llms.llamacpp_local",
    "LlamaCppServer": "guidance_engine.llms.llamacpp_server",
    "PROFILES": "guidance_engine.llms.openai_profiles",
    "with_retries": "guidance_engine.llms.openai_wire",
}

__all__ = [
    "LLM", "PROFILES", "GenStats", "LlamaCpp", "LlamaCppServer", "Mock", "OpenAI", "Transformers",
    "local_model", "physical_cores", "with_retries",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value
