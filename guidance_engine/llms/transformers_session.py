"""The session stage of the Transformers backend: one execution's tokens, KV cache and worker.

A `TransformersSession` remembers which tokens its cache holds. Every request brings its whole
prompt; the session tokenizes it (healing the seam first), crops the cache back to what the
prompt shares with it, and hands the rest to the model as one prefill. `gen` calls that arrive
on the same event-loop turns (the branches of `{{#each ... parallel=True}}`, gathered) are
served as one batch on a copy of their shared prefix, as are the `n` samples of one call.
`select` scores all options in a single pass over their token trie and keeps the chosen
option's tokens cached, since the text after a select usually starts with it::

    >>> session = Transformers().session()
    >>> (await session.select(SelectRequest("Is water wet?", (" yes", " no")))).choice
    ' yes'

The per-token loop (mask, sample, commit, extend) belongs to the model (`transformers.py`);
this module builds its rows (`Row`) and batches (`Batch`) and turns finished rows into
results. All model work runs on the session's one worker thread; chunks are handed back to the
event loop as they are produced. `close()` raises a flag the worker checks between forward
passes, so a cancelled run stops within one pass with the cache still matching `tokens`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import torch

from guidance_engine.constraints import ConstraintSpec, Matcher, heal
from guidance_engine.errors import GuidanceError
from guidance_engine.llms.base import (
    ChunkCallback,
    GenRequest,
    GenResult,
    GenStats,
    SelectRequest,
    SelectResult,
)
from guidance_engine.llms.classic import ClassicSession
from guidance_engine.llms.kv import KVCache, common_prefix
from guidance_engine.llms.local import Worker, WorkerSelect, on_loop, prompt_ids, settle
from guidance_engine.llms.sample_state import gen_result
from guidance_engine.llms.sampling import build_processors, make_generator
from guidance_engine.llms.transformers_decode import (
    Batch,
    Decoder,
    GenerationCancelled,
    Row,
    padded_suffixes,
)
from guidance_engine.llms.transformers_model import TransformersModel

_T = TypeVar("_T")
_GATHER_YIELDS = 4  # event-loop turns to wait for sibling gen calls of a parallel each


class TransformersSession(WorkerSelect, ClassicSession):
    """Token state (tokens + KV cache) for one program execution on a `Transformers` model."""

    llm: TransformersModel

    def __init__(self, llm: TransformersModel) -> None:
        self.llm = llm
        self.tokens: list[int] = []
        self.kv = KVCache()
        self.last_logits: torch.Tensor | None = None  # [V] after the last token in `tokens`
        self._pending: list[tuple[GenRequest, ChunkCallback | None, asyncio.Future[GenResult]]]
        self._pending = []
        self._flusher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._restored = False
        self._worker = Worker("guidance-model")
        self._cancel = threading.Event()
        self.calls = 0  # requests served (gen + select)

    # -- public API ----------------------------------------------------------------------------

    async def gen(self, request: GenRequest, on_chunk: ChunkCallback | None = None) -> GenResult:
        self.llm.validate_request(request)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[GenResult] = loop.create_future()
        self._pending.append((request, on_loop(loop, on_chunk), future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())
        return await future

    def close(self) -> None:
        """Stop the worker (within one forward pass), join it, keep the prefix for later runs."""
        self._cancel.set()
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
        self._worker.shutdown()
        if self.llm.acceleration and self.tokens:
            self.llm.prefix_cache.store(self.tokens, self.kv.take_snapshot())

    # -- the worker thread ---------------------------------------------------------------------

    async def _in_worker(self, func: Callable[..., _T], *args: Any) -> _T:
        """Run `func(*args)` on this session's worker thread; the event loop stays free."""
        if self._cancel.is_set():
            raise GenerationCancelled("the session is closed")
        return await self._worker.run(func, *args)

    def _select_in_worker(self, request: SelectRequest) -> SelectResult:
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
                    settle(future, outcome)

    def _serve(
        self, batch: list[tuple[GenRequest, ChunkCallback | None, asyncio.Future[GenResult]]]
    ) -> list[tuple[asyncio.Future[GenResult], GenResult | BaseException]]:
        """(In the worker.) Decode a batch of gen calls; the outcome of each call's future."""
        outcomes: list[tuple[asyncio.Future[GenResult], GenResult | BaseException]] = []
        plans: list[tuple[asyncio.Future[GenResult], list[Row]]] = []
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
                outcomes.append((future, gen_result(rows, replace(
                    stats, sampled_tokens=sum(r.sampled for r in rows),
                    forced_tokens=sum(r.forced for r in rows),
                    drafted_tokens=sum(r.drafted for r in rows),
                    accepted_tokens=sum(r.accepted for r in rows)))))
            except Exception as exc:  # an incomplete constrained value
                outcomes.append((future, exc))
        return outcomes

    # -- planning: tokenize, heal, check the context -------------------------------------------

    def _plan(self, request: GenRequest, on_chunk: ChunkCallback | None) -> list[Row]:
        llm = self.llm
        ids = prompt_ids(llm.encoder, request)
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
            rows.append(Row(request, i, on_chunk, prefix.encode(), max_tokens, spec=spec,
                            matcher=matcher, prompt_ids=ids, healed_id=healed_id,
                            processors=processors))
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

    def _generate(self, rows: list[Row]) -> GenStats:
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
            batch = Batch(self.kv, rows, cancel=self._cancel, healed=healed)
            try:
                Decoder(llm).decode(batch, first)
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

    def _generate_batch(self, rows: list[Row]) -> tuple[int, int]:
        """Decode several rows as one batch on a copy of the shared prefix's cache."""
        llm = self.llm
        shared = rows[0].prompt_ids
        for row in rows[1:]:
            shared = shared[: common_prefix(shared, row.prompt_ids)]
        widths = [len(row.prompt_ids) - len(shared) for row in rows]
        # A row whose prompt is the shared prefix itself needs the logits after it.
        fed, reused = self._sync(list(shared), need_logits=min(widths) == 0)
        kv = self.kv.repeat(len(rows))
        base, width = len(shared), max(widths)
        if width == 0:
            assert self.last_logits is not None
            batch = Batch(kv, rows, torch.ones(len(rows), base, dtype=torch.long),
                           torch.full((len(rows),), base, dtype=torch.long), cancel=self._cancel)
            Decoder(llm).decode(batch, self.last_logits.unsqueeze(0).expand(len(rows), -1))
            return fed, reused
        ids, attn, pos = padded_suffixes([row.prompt_ids[base:] for row in rows], base,
                                         llm.pad_id)
        logits = llm.forward(kv, ids, attn, pos)
        batch = Batch(kv, rows, attn, torch.tensor([len(r.prompt_ids) for r in rows]),
                       cancel=self._cancel)
        Decoder(llm).decode(batch, logits)
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


def _choose_option(logprobs: torch.Tensor, temperature: float, seed: int | None) -> int:
    if temperature <= 0:
        return int(torch.argmax(logprobs))
    generator = make_generator(seed, torch.device("cpu"))
    probs = torch.softmax(logprobs / temperature, dim=0)
    return int(torch.multinomial(probs, 1, generator=generator))
