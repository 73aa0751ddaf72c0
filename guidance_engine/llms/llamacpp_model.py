"""The model stage of the LlamaCpp backend: a GGUF on llama.cpp inside this process (`xllamacpp`).

This module owns the model: starting llama.cpp's server core in-process (no HTTP request is
ever made: requests go straight to its handlers, and its loopback listener refuses anyone
without a random key), the tokenizer (the GGUF's own, through the model store), the chat
markup, the context window, the requests themselves (`stream`, `complete`) and the slots.
llama.cpp keeps one KV cache per slot and reuses its longest common prefix with the next
prompt; each session holds one slot for all its requests (`SlotPool`), so a program's
segments and its next run cost only their new tokens::

    >>> llm = LlamaCpp()                                 # llamacpp.py adds the sessions
    >>> llm.complete({"prompt": llm.encoder.encode_text("The capital of France is"),
    ...               "max_tokens": 2, "temperature": 0})["choices"][0]["text"]
    ' Paris.'
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guidance_engine.constraints import TokenIndex
from guidance_engine.errors import ModelAPIError, ModelLoadError
from guidance_engine.llms.base import Capabilities
from guidance_engine.llms.chat import RoleMarkup
from guidance_engine.llms.classic import ClassicLLM
from guidance_engine.llms.cpu import physical_cores
from guidance_engine.llms.encode import PromptEncoder
from guidance_engine.llms.kv import common_prefix
from guidance_engine.llms.llamacpp_grammar import HEADER
from guidance_engine.llms.local import GenerationCancelled as GenerationCancelled
from guidance_engine.llms.local import TokenizerRoles, context_budget
from guidance_engine.llms.model_store import default_gguf_path, load_tokenizer

DEFAULT_MAX_TOKENS = 500  # the classic guidance default for gen

#: `{{gen}}` sampling keywords and llama.cpp's names for them.
SAMPLING_KWARGS: dict[str, str] = {
    "top_k": "top_k", "min_p": "min_p", "typical_p": "typical_p",
    "repetition_penalty": "repeat_penalty", "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}

#: An event of a streamed completion; the handler returns True to stop the generation.
EventHandler = Callable[[dict[str, Any]], bool]


class LlamaCppModel(TokenizerRoles, ClassicLLM):
    """A local GGUF model on llama.cpp (default: SmolLM2-135M-Instruct, Q4_1); `LlamaCpp` adds
    its sessions.

    `model_path` is a `.gguf` file (None: the default model). `n_threads` defaults to this
    machine's physical cores (or `$OMP_NUM_THREADS` when set); on a machine shared with other
    jobs pass 1. `n_ctx` is the context window of each slot, `n_slots` how many sessions
    (program runs) keep a KV cache of their own at once (more sessions share slots, and then
    re-feed their prompts). `token_healing` and `caching` mean what they mean for
    `Transformers`.
    """

    sampling_kwargs = frozenset(SAMPLING_KWARGS)
    capabilities: Capabilities

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        n_threads: int | None = None,
        n_ctx: int = 4096,
        n_slots: int = 2,
        token_healing: bool = True,
        caching: bool | None = None,
        chat_template: str | None = None,
    ) -> None:
        self.path = Path(model_path) if model_path is not None else default_gguf_path()
        if not self.path.is_file():
            raise ModelLoadError(f"LlamaCpp: model file not found: {self.path}")
        self.n_threads = n_threads or _default_threads()
        if self.n_threads < 1 or n_slots < 1 or n_ctx < 16:
            raise ModelLoadError(
                f"LlamaCpp: n_threads and n_slots must be >= 1 and n_ctx >= 16; found "
                f"n_threads={self.n_threads}, n_slots={n_slots}, n_ctx={n_ctx}")
        self.context_length = n_ctx
        self.token_healing = token_healing
        self.caching = caching is True
        self.tokenizer = load_tokenizer(self.path)
        self._chat_template = chat_template or getattr(self.tokenizer, "chat_template", None)
        self._markup: RoleMarkup | None = None
        self._index: TokenIndex | None = None
        self._end_ids: set[int] | None = None
        self.encoder = PromptEncoder(self.tokenizer)
        self.requests = 0  # completion requests made (benchmarks, tests)
        # No full distributions (llama.cpp reports top alternatives), yet select is exact:
        # forced tokens are scored from the model's own logprobs. The n samples of a gen run
        # one after another on the session's slot. Constraints: llguidance, in llama.cpp.
        self.capabilities = Capabilities(
            "LlamaCpp", roles=self._chat_template is not None, max_n=1, logits=False,
            exact_select=True, healing=True, kv_reuse=True)
        self.server = _start_server(self.path, self.n_threads, n_ctx, n_slots)
        # llama.cpp builds its constraint engine's view of the vocabulary (~0.6 s) at the first
        # grammar; healing makes nearly every gen use one, so it is built now, with the model.
        self.complete({"prompt": [0], "max_tokens": 1, "grammar": HEADER + "start: /a/",
                       "cache_prompt": False})
        self.slots = SlotPool(n_slots)

    def __repr__(self) -> str:
        return f"LlamaCpp({str(self.path)!r})"

    def cache_identity(self) -> dict[str, Any]:
        return {"backend": "LlamaCpp", "model": str(self.path)}

    # -- tokens --------------------------------------------------------------------------------

    def markup_ids(self, text: str) -> list[int]:
        return self.encoder.encode_text(text)

    def check_context(self, prompt_tokens: int, max_tokens: int | None) -> int:
        """The number of tokens a gen may produce; raises when the slot cannot hold it."""
        return context_budget(prompt_tokens, max_tokens, self.context_length, DEFAULT_MAX_TOKENS,
                              "LlamaCpp's context window", "n_ctx", ("raise n_ctx",))

    # -- requests ------------------------------------------------------------------------------

    def stream(self, body: dict[str, Any], handler: EventHandler) -> None:
        """Run one streamed completion, blocking; `handler` gets each event as it is made and
        stops the generation by returning True (llama.cpp cancels its task at once)."""
        self.requests += 1
        failure: list[dict[str, Any]] = []

        def callback(event: dict[str, Any]) -> bool:
            if "choices" not in event:
                failure.append(event)
                return True
            return handler(event)

        self.server.handle_completions({**body, "stream": True}, callback)
        if failure:
            raise _api_error(failure[0])

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """Run one completion to its end, blocking; the reply."""
        self.requests += 1
        reply: dict[str, Any] = self.server.handle_completions({**body, "stream": False})
        if "choices" not in reply:
            raise _api_error(reply)
        return reply


    def metrics(self) -> dict[str, float]:
        """llama.cpp's counters: `tokens_predicted_total`, `prompt_tokens_total`, ..."""
        text = str(self.server.handle_metrics())
        return {name: float(value) for name, value in
                re.findall(r"^llamacpp:(\w+) ([-+0-9.eE]+)$", text, re.MULTILINE)}


@dataclass
class SlotPool:
    """Which llama.cpp slot each session uses. A session takes the free slot whose cache
    shares the longest prefix with its first prompt (a program's next run finds its last run's
    tokens); when every slot is taken, sessions share the one that fits best."""

    size: int
    held: list[int] = field(default_factory=list)  # sessions holding each slot
    tokens: list[list[int]] = field(default_factory=list)  # what each slot's cache holds
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.held = [0] * self.size
        self.tokens = [[] for _ in range(self.size)]

    def acquire(self, prompt: Sequence[int]) -> int:
        with self.lock:
            fewest = min(self.held)
            candidates = [i for i in range(self.size) if self.held[i] == fewest]
            slot = max(candidates, key=lambda i: (common_prefix(self.tokens[i], prompt), -i))
            self.held[slot] += 1
            return slot

    def release(self, slot: int) -> None:
        with self.lock:
            self.held[slot] -= 1

    def reusable(self, slot: int, prompt: Sequence[int]) -> int:
        """Prompt tokens the slot's cache serves (llama.cpp evaluates at least one)."""
        with self.lock:
            return min(common_prefix(self.tokens[slot], prompt), max(0, len(prompt) - 1))

    def record(self, slot: int, tokens: Sequence[int]) -> None:
        with self.lock:
            self.tokens[slot] = list(tokens)


def _default_threads() -> int:
    """`$OMP_NUM_THREADS` (the usual knob, torch honours it too), else the physical cores."""
    given = os.environ.get("OMP_NUM_THREADS", "")
    return int(given) if given.isdigit() and int(given) > 0 else physical_cores()


def _api_error(event: dict[str, Any]) -> ModelAPIError:
    error = event.get("error", event)
    message = error.get("message", error) if isinstance(error, dict) else error
    return ModelAPIError(f"llama.cpp refused the request: {message}")


def _start_server(path: Path, n_threads: int, n_ctx: int, n_slots: int) -> Any:
    """llama.cpp's server core in this process, quiet, its HTTP listener locked by a key."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.n_ctx = n_ctx * n_slots  # llama.cpp splits the context evenly over the slots
    params.n_parallel = n_slots
    params.cpuparams.n_threads = n_threads
    params.cpuparams_batch.n_threads = n_threads
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # any free port: the listener is unused (requests go to the handlers)
    params.api_keys = [secrets.token_hex(16)]  # nobody else can use it
    params.endpoint_metrics = True  # counters for tests and benchmarks (`metrics()`)
    params.verbosity = -1  # no log lines on stderr (a notebook shows them as errors)
    # Each slot keeps its own prompt cache; no RAM cache shared across slots (see
    # llamacpp_server.py on question isolation), and the context never shifts silently.
    params.cache_ram_mib = 0
    params.cache_idle_slots = False
    params.ctx_shift = False
    try:
        return xllamacpp.Server(params)
    except Exception as exc:
        raise ModelLoadError(f"llama.cpp could not load '{path}': {exc}") from exc

