"""What the in-process backends (Transformers, LlamaCpp) share besides a sample's text
(`sample_state.py`): role markup, the constraint index and end tokens from the tokenizer, a
select's options as token sequences, the context-window check, and handing a worker thread's
results to the event loop::

    class MyModel(TokenizerRoles, ClassicLLM): ...   # roles, index, end ids from the tokenizer
    seqs = option_sequences(encoder, tokenizer, request, healing=True)
    callback = on_loop(asyncio.get_running_loop(), on_chunk)   # safe to call from the worker
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from guidance_engine.constraints import TokenIndex
from guidance_engine.errors import ContextOverflowError, GuidanceError
from guidance_engine.llms.base import (
    ChunkCallback,
    GenRequest,
    Segment,
    SelectRequest,
    SelectResult,
)
from guidance_engine.llms.chat import RoleMarkup
from guidance_engine.llms.encode import PromptEncoder
from guidance_engine.llms.model_store import cache_root

_T = TypeVar("_T")


class GenerationCancelled(Exception):
    """Raised when the session was closed, or its caller cancelled, during a model call (a
    local backend's worker stops within one token or forward pass)."""


def token_index(tokenizer: Any) -> TokenIndex:
    """The tokenizer's (memoised) constraint index; its table is stored beside the converted
    models, keyed by the tokenizer's content."""
    return TokenIndex.for_tokenizer(tokenizer, cache_root() / "token-index")


class TokenizerRoles:
    """What a local model reads from its tokenizer: `role_start` / `role_end` from the chat
    template (`_chat_template`, the tokenizer's own by default), the constraint engine's
    `index`, and the `end_ids` that end a gen; each read on first use. A backend supplies
    `markup_ids`, how it tokenizes template markup."""

    tokenizer: Any
    _chat_template: str | None
    _markup: RoleMarkup | None
    _index: TokenIndex | None
    _end_ids: set[int] | None

    @property
    def markup(self) -> RoleMarkup:
        if self._markup is None:
            special = {"bos_token": self.tokenizer.bos_token or "",
                       "eos_token": self.tokenizer.eos_token or ""}
            self._markup = RoleMarkup.from_template(self._chat_template, special)
        return self._markup

    def role_start(self, role: str, **kwargs: Any) -> str:
        return self.markup.start(role)

    def role_end(self, role: str) -> str:
        return self.markup.end(role)

    @property
    def index(self) -> TokenIndex:
        """The constraint engine's view of the vocabulary, on first use (its table is loaded
        from the model cache in ~30 ms; built and stored there the first time, ~0.35 s)."""
        if self._index is None:
            self._index = token_index(self.tokenizer)
        return self._index

    def constraint_index(self) -> TokenIndex:
        """Constraints compile on the model's vocabulary: the matcher then reuses the compile."""
        return self.index

    @property
    def end_ids(self) -> set[int]:
        """Tokens that end a gen: EOS and the special tokens closing an assistant turn."""
        if self._end_ids is None:
            eos = self.tokenizer.eos_token_id
            ends = set(self.index.eos_ids) | ({int(eos)} if eos is not None else set())
            if self._chat_template:
                try:
                    closing = self.markup_ids(self.role_end("assistant"))
                except Exception:  # a template without an assistant role: EOS alone ends
                    closing = []
                ends.update(t for t in closing if self.index.is_special(t))
            self._end_ids = ends
        return self._end_ids

    def markup_ids(self, text: str) -> list[int]:
        """`text` (template markup, special tokens allowed) as this backend tokenizes it."""
        raise NotImplementedError


def option_sequences(
    encoder: PromptEncoder, tokenizer: Any, request: SelectRequest, healing: bool
) -> list[list[int]]:
    """Token sequences of prompt + option (+ suffix) for every option.

    The suffix is scored only when an option is a prefix of another: then it is what tells
    "plate" from "plate armor"; otherwise it would cost tokens in every option's path.
    """
    options = request.options
    # In sorted order, a string's extensions follow it directly, so neighbours suffice.
    ordered = sorted(set(options))
    prefixes = any(b.startswith(a) for a, b in itertools.pairwise(ordered))
    suffix = request.suffix if prefixes else ""
    segments = request.structured
    if healing:
        # Tokenizing each whole text re-decides the seam, which is what healing means here;
        # the options are values: plain text, never special tokens.
        return encoder.encode_many(
            [(*segments, Segment(opt + suffix, "value")) for opt in options])
    prompt = encoder.encode(segments)
    tails = tokenizer([opt + suffix for opt in options], add_special_tokens=False,
                      split_special_tokens=True)["input_ids"]
    return [prompt + list(tail) for tail in tails]


class Worker:
    """A session's one model thread (named `name`), started on first use: model work runs there
    so the event loop stays free, and one thread keeps the backend's state on one thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._executor: ThreadPoolExecutor | None = None

    def start(self, func: Callable[..., _T], *args: Any) -> asyncio.Future[_T]:
        """`func(*args)` started on the worker thread; its future on the running loop."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=self.name)
        return asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    async def run(self, func: Callable[..., _T], *args: Any) -> _T:
        """`func(*args)` on the worker thread, awaited."""
        return await self.start(func, *args)

    def shutdown(self) -> None:
        """Wait for the running call to end and stop the thread (started again if used)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


def prompt_ids(encoder: PromptEncoder, request: GenRequest) -> list[int]:
    """A gen's prompt as the model's token ids; refuses n < 1 and a prompt with no tokens."""
    if request.n < 1:
        raise GuidanceError(f"gen n= must be at least 1, found {request.n}")
    ids = encoder.encode(request.structured)
    if not ids:
        raise GuidanceError(
            "gen needs prompt text before it with this model (found an empty prompt and no "
            "beginning-of-text token to start from)")
    return ids


class WorkerSelect:
    """`select` for a session whose model work runs on its worker: one call at a time (under
    `_lock`), counted in `calls`, scored by `_select_in_worker` on the worker thread."""

    _lock: asyncio.Lock
    calls: int

    async def select(self, request: SelectRequest) -> SelectResult:
        async with self._lock:
            self.calls += 1
            return await self._in_worker(self._select_in_worker, request)

    async def _in_worker(self, func: Callable[..., _T], *args: Any) -> _T:
        raise NotImplementedError

    def _select_in_worker(self, request: SelectRequest, *args: Any) -> SelectResult:
        raise NotImplementedError


def on_loop(
    loop: asyncio.AbstractEventLoop, on_chunk: ChunkCallback | None
) -> ChunkCallback | None:
    """`on_chunk` as the worker thread calls it: each call is handed to the event loop."""
    if on_chunk is None:
        return None
    callback = on_chunk

    def deliver(index: int, text: str) -> None:
        loop.call_soon_threadsafe(callback, index, text)

    return deliver


def settle(future: asyncio.Future[_T], outcome: _T | BaseException) -> None:
    """Resolve a call's future unless its caller has gone (a cancelled gather)."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def context_budget(
    prompt_tokens: int, max_tokens: int | None, limit: int, default: int, window: str,
    setting: str, remedies: tuple[str, ...] = (),
) -> int:
    """The tokens a gen may produce after `prompt_tokens` (`default` when max_tokens is None),
    or `ContextOverflowError` naming `window` ("the model's context window"), the `setting`
    that sets it and what to do (`remedies` beyond shortening the template)::

        context_budget(9000, 4, 8192, 500, "the model's context window",
                       "max_position_embeddings")   # raises: "the prompt is 9000 tokens ..."
    """
    if prompt_tokens >= limit:
        raise ContextOverflowError(
            f"the prompt is {prompt_tokens} tokens but {window} is {limit} tokens ({setting}); "
            f"{_either('shorten the template', *remedies)}")
    if max_tokens is None:
        return min(default, limit - prompt_tokens)
    if prompt_tokens + max_tokens > limit:
        raise ContextOverflowError(
            f"the prompt ({prompt_tokens} tokens) plus max_tokens={max_tokens} exceeds {window} "
            f"of {limit} tokens ({setting}); "
            f"{_either('lower max_tokens', 'shorten the template', *remedies)}")
    return max_tokens


def _either(*choices: str) -> str:
    """'a', 'a or b', 'a, b or c'."""
    return choices[0] if len(choices) == 1 else ", ".join(choices[:-1]) + " or " + choices[-1]
