"""`guidance.llms.local_model()`: the default local model on the backend a user or test picks.

    >>> guidance.llm = guidance.llms.local_model()            # Transformers(), or LlamaCpp()
    >>> guidance.llms.local_model("llamacpp", n_threads=1)    # LlamaCpp(n_threads=1)

`backend` None reads `GUIDANCE_ENGINE_BACKEND` ("transformers", the default, or "llamacpp"), so
the demo and the notebooks run on llama.cpp with `GUIDANCE_ENGINE_BACKEND=llamacpp` and no
change to their code. Both backends load the same SmolLM2 GGUF by default: llama.cpp runs it as
it is (faster on a CPU); Transformers converts it once to fp32 (exact logits, batching).
(Named `local_model`, not `local`: `guidance_engine.llms.local` is the module the local
backends share, and an imported submodule would replace a package attribute of its name.)
"""

from __future__ import annotations

import os
from typing import Any

from guidance_engine.errors import ModelLoadError
from guidance_engine.llms.base import LLM

BACKENDS = ("transformers", "llamacpp")
ENV = "GUIDANCE_ENGINE_BACKEND"


def backend_name(backend: str | None = None) -> str:
    """`backend`, else `$GUIDANCE_ENGINE_BACKEND`, else "transformers"; checked."""
    name = (backend or os.environ.get(ENV) or "transformers").strip().lower()
    if name not in BACKENDS:
        raise ModelLoadError(
            f"unknown local backend {name!r} (from {'backend=' if backend else ENV}); expected "
            f"one of {', '.join(BACKENDS)}")
    return name


def local_model(backend: str | None = None, **kwargs: Any) -> LLM:
    """The default model (or `model_path=` / `model=`) on the chosen local backend."""
    if backend_name(backend) == "llamacpp":
        from guidance_engine.llms.llamacpp import LlamaCpp

        return LlamaCpp(**kwargs)
    from guidance_engine.llms.transformers import Transformers

    return Transformers(**kwargs)
