"""Shared fixtures: the real default model (marked `model`) on Transformers (`smol_llm`) and on
llama.cpp in-process (`llamacpp_llm`; `local_llm` runs a test on each in turn), Gemma3 (marked
`gemma`), the llama.cpp server (marked `server`) and the vLLM server (marked `server` and `vllm`).

Models load once per test session. A test that uses `smol_llm`, `llamacpp_llm`, `local_llm`,
`gemma_llm` or `llamacpp_server` is marked automatically, so
`pytest -m "not model and not gemma and not server"` skips every real-model test. The tokenizer
fixtures load no weights and are unmarked (they take a second or two the first time).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

_MARKS = {"smol_llm": ("model",), "llamacpp_llm": ("model",), "local_llm": ("model",),
          "gemma_llm": ("gemma",), "llamacpp_server": ("server",),
          "vllm_server": ("server", "vllm")}


def _one_thread() -> None:
    # Measured on the shared 2-core machine: with another busy process, 2 intra-op threads
    # take 0.7-1.7 s per decoded token (threads wait on each other at every barrier) against
    # 55 ms with one thread. Tests assert no timings, so the robust setting wins.
    import torch

    torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marks in _MARKS.items():
            if fixture in getattr(item, "fixturenames", ()):
                for mark in marks:
                    item.add_marker(getattr(pytest.mark, mark))


@pytest.fixture(scope="session")
def smol_tokenizer() -> Any:
    """SmolLM2-135M-Instruct's tokenizer (byte-level BPE, 49k vocab), no weights."""
    from guidance_engine.llms.model_store import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def gemma_tokenizer() -> Any:
    """Gemma3-270M's tokenizer (SentencePiece with byte fallback, 262k vocab), no weights."""
    from guidance_engine.llms.model_store import load_gemma_tokenizer

    return load_gemma_tokenizer()


@pytest.fixture(scope="session")
def smol_llm() -> Any:
    """The default model as `Transformers()`: CPU, fp32, greedy unless a test says otherwise."""
    from guidance_engine.llms.transformers import Transformers

    _one_thread()
    return Transformers()


@pytest.fixture(scope="session")
def llamacpp_llm() -> Any:
    """The default model's GGUF on llama.cpp in this process (`LlamaCpp()`), one thread."""
    from guidance_engine.llms.llamacpp import LlamaCpp

    return LlamaCpp(n_threads=1)


@pytest.fixture(params=["transformers", "llamacpp"])
def local_llm(request: pytest.FixtureRequest) -> Any:
    """Each local backend on the default model in turn: `Transformers()` (fp32 weights
    converted from the GGUF) and `LlamaCpp()` (the GGUF itself, Q4_1)."""
    return request.getfixturevalue("smol_llm" if request.param == "transformers"
                                   else "llamacpp_llm")


@pytest.fixture(scope="session")
def gemma_llm() -> Any:
    """Gemma3-270M as `Transformers(...)` (heavy: load it in as few tests as possible)."""
    from guidance_engine.llms.model_store import gemma_gguf_path
    from guidance_engine.llms.transformers import Transformers

    _one_thread()
    return Transformers(gemma_gguf_path())


@pytest.fixture(scope="session")
def llamacpp_server() -> Iterator[Any]:
    """llama.cpp's C++ server (PyPI `xllamacpp`) on 127.0.0.1 with the default SmolLM2 GGUF and
    one thread, shared by the whole session and stopped at its end, whatever happened."""
    from guidance_engine.llms.llamacpp_server import LlamaCppServer

    server = LlamaCppServer(n_threads=1, n_ctx=4096, n_parallel=2, alias="smollm2")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def vllm_server() -> Iterator[Any]:
    """A real vLLM server (the CPU build from `make vllm`) on 127.0.0.1 serving the converted
    SmolLM2 in float32 with one thread, shared by the whole session and stopped at its end,
    whatever happened. Its prefix cache is on (vLLM's default). Constraints run on llguidance
    (our engine) with compact JSON: by default vLLM allows any whitespace between JSON tokens,
    which sampling can fill up to max_tokens (docs/remote.md)."""
    from guidance_engine.llms.vllm_server import VLLMServer

    server = VLLMServer(n_threads=1, served_name="smollm2", extra_args=(
        "--structured-outputs-config",
        '{"backend": "guidance", "disable_any_whitespace": true}'))
    server.start()
    try:
        yield server
    finally:
        server.stop()
