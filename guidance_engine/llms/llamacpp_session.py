"""The session stage of the LlamaCpp backend: one execution's slot, worker thread and gens.

A `LlamaCppSession` holds one llama.cpp slot for all its requests, so each request's prompt
(token ids, built from the structured prompt) shares its beginning with what the slot's KV
cache already holds and llama.cpp evaluates only the rest. A gen is planned like on the
Transformers backend (tokenize, heal the seam, check the context, build the constraint with
the healing prefix), then each of its `n` samples is one streamed request whose grammar is the
engine's grammar for that spec (`llamacpp_grammar.py`), read token by token by a `Sample`::

    >>> session = LlamaCpp().session()
    >>> (await session.gen(GenRequest("Age: ", pattern="[0-9]+", max_tokens=4))).texts
    ('25',)

Model work runs on the session's one worker thread; chunks reach the event loop as each token
arrives. Closing the session, or cancelling the awaiting task, makes the next token's callback
tell llama.cpp to stop, which cancels the generation within one token.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from guidance_engine.constraints import ConstraintSpec, Matcher, heal
from guidance_engine.errors import ModelAPIError
from guidance_engine.llms.base import (
    ChunkCallback,
    GenRequest,
    GenResult,
    GenStats,
    SelectRequest,
    SelectResult,
)
from guidance_engine.llms.classic import ClassicSession
from guidance_engine.llms.llamacpp_grammar import llamacpp_grammar
from guidance_engine.llms.llamacpp_model import SAMPLING_KWARGS, GenerationCancelled, LlamaCppModel
from guidance_engine.llms.llamacpp_sample import Sample
from guidance_engine.llms.llamacpp_select import select_exact
from guidance_engine.llms.local import Worker, WorkerSelect, on_loop, prompt_ids
from guidance_engine.llms.sample_state import gen_result

_T = TypeVar("_T")


class LlamaCppSession(WorkerSelect, ClassicSession):
    """One program execution on a `LlamaCpp` model: its slot, worker and requests."""

    def __init__(self, llm: LlamaCppModel) -> None:
        self.llm = llm
        self.slot: int | None = None
        self._lock = asyncio.Lock()
        self._worker = Worker("guidance-llamacpp")
        self._closed = threading.Event()
        self.calls = 0

    # -- public API ----------------------------------------------------------------------------

    async def gen(self, request: GenRequest, on_chunk: ChunkCallback | None = None) -> GenResult:
        self.llm.validate_request(request)
        loop = asyncio.get_running_loop()
        async with self._lock:
            self.calls += 1
            return await self._in_worker(self._gen, request, on_loop(loop, on_chunk))

    def close(self) -> None:
        """Stop the running request (within one token), join the worker, free the slot."""
        self._closed.set()
        self._worker.shutdown()
        if self.slot is not None:
            self.llm.slots.release(self.slot)
            self.slot = None

    # -- the worker thread ---------------------------------------------------------------------

    async def _in_worker(self, func: Callable[..., _T], *args: Any) -> _T:
        """Run `func(*args, cancel)` on the worker; cancelling the caller stops it."""
        if self._closed.is_set():
            raise GenerationCancelled("the session is closed")
        cancel = threading.Event()
        future = self._worker.start(functools.partial(func, *args, cancel))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            cancel.set()  # the request stops at its next token
            raise

    def _stopped(self, cancel: threading.Event) -> bool:
        return cancel.is_set() or self._closed.is_set()

    def slot_for(self, prompt: list[int]) -> int:
        if self.slot is None:
            self.slot = self.llm.slots.acquire(prompt)
        return self.slot

    # -- gen -----------------------------------------------------------------------------------

    def _gen(self, request: GenRequest, on_chunk: ChunkCallback | None,
             cancel: threading.Event) -> GenResult:
        llm = self.llm
        ids = prompt_ids(llm.encoder, request)
        healing = llm.token_healing if request.token_healing is None else request.token_healing
        prefix, removed = "", 0
        if healing:
            plan = heal(ids, llm.index)
            ids, prefix, removed = ids[: plan.keep], plan.prefix, plan.removed
        spec = ConstraintSpec.for_request(request, prefix)
        # The token(s) that re-produce the healed text are not counted against max_tokens.
        budget = llm.check_context(len(ids), request.max_tokens) + removed
        slot = self.slot_for(ids)
        reused = llm.slots.reusable(slot, ids)
        samples = []
        for i in range(request.n):
            matcher = Matcher(spec, llm.index, check=False) if spec.constrained or prefix else None
            sample = Sample(request, i, on_chunk, prefix.encode(), budget, spec=spec,
                            matcher=matcher, end_ids=llm.end_ids, index=llm.index)
            if budget > 0:
                self._run_sample(sample, ids, slot, i, cancel)
            else:
                sample.end("length")
            samples.append(sample)
        stats = GenStats(prompt_tokens=len(ids), fed_tokens=len(ids) - reused,
                         reused_tokens=reused, healed_tokens=1 if prefix else 0,
                         sampled_tokens=sum(len(s.ids) for s in samples),
                         forward_passes=sum(len(s.ids) for s in samples) + 1)
        return gen_result(samples, stats)

    def _run_sample(self, sample: Sample, ids: list[int], slot: int, i: int,
                    cancel: threading.Event) -> None:
        request = sample.request
        body: dict[str, Any] = {
            "id_slot": slot, "cache_prompt": True, "temperature": request.temperature,
            "top_p": request.top_p, "logprobs": max(1, request.logprobs or 0),
            # Sampling is temperature and top_p, as on every backend: llama.cpp's own default
            # top_k=40 and min_p=0.05 apply only when a gen asks for them.
            "top_k": 0, "min_p": 0.0, "typical_p": 1.0,
            **{SAMPLING_KWARGS[k]: v for k, v in request.extra.items() if k in SAMPLING_KWARGS},
        }
        if request.seed is not None:
            body["seed"] = request.seed + i  # samples differ, yet repeat
        assert sample.spec is not None
        grammar = llamacpp_grammar(sample.spec)
        if grammar is not None and not sample.constrained:
            # Healing alone: the token(s) that re-produce the healed text come from 1-token
            # requests under the grammar, the rest unconstrained (llama.cpp's grammar costs
            # ~15% of a token's time). Each next request evaluates the token just chosen,
            # which the generation had to evaluate anyway.
            while sample.matcher is not None and sample.finish is None:
                taken = len(sample.ids)
                self._stream(sample, ids, {**body, "max_tokens": 1, "grammar": grammar},
                             cancel, final=False)
                if len(sample.ids) == taken:
                    raise ModelAPIError("llama.cpp returned no token for a healed gen's first "
                                        "token (a 1-token request under the healing grammar)")
        elif grammar is not None:
            body["grammar"] = grammar
        if sample.finish is None:
            self._stream(sample, ids, {**body, "max_tokens": sample.max_tokens - len(sample.ids)},
                         cancel, final=True)

    def _stream(self, sample: Sample, ids: list[int], body: dict[str, Any],
                cancel: threading.Event, final: bool) -> None:
        """One streamed request continuing `sample` after `ids`; `final`: its end (a token
        budget or an end token) ends the sample."""
        prompt = ids + sample.ids

        def on_event(event: dict[str, Any]) -> bool:
            if self._stopped(cancel):
                return True
            choice = event["choices"][0]
            for entry in (choice.get("logprobs") or {}).get("content") or ():
                if sample.take(int(entry["id"]), entry):
                    return True
            if final and choice.get("finish_reason"):
                sample.end(choice["finish_reason"])
            return sample.finish is not None

        slot = int(body["id_slot"])
        try:
            self.llm.stream({**body, "prompt": prompt}, on_event)
        finally:
            self.llm.slots.record(slot, ids + sample.ids)
        if self._stopped(cancel):
            raise GenerationCancelled("the session was closed during a model call")
        if final and sample.finish is None:
            sample.end("stop")


    # -- select --------------------------------------------------------------------------------

    def _select_in_worker(self, request: SelectRequest, cancel: threading.Event) -> SelectResult:
        return select_exact(self.llm, self.slot_for, request, lambda: self._stopped(cancel))
