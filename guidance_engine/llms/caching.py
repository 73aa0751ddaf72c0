"""Generation caching: one layer around any backend's session, stored with `diskcache`.

A deterministic call (temperature 0, or any temperature with a `seed`) is keyed by the model's
identity (backend, model, endpoint), the full structured prompt and every request field; a hit
is served without calling the model and streams its text like a run. The store lives under the
project cache directory (`$GUIDANCE_ENGINE_CACHE`, default `~/.cache/guidance_engine`) in
`generations/`, bounded in size (least recently used entries go first; `cache_store.py`)::

    llm = guidance.llms.OpenAI("gpt-4o-mini")          # caching=True by default, as in 0.0.64
    guidance(template, llm=llm)()                       # calls the server
    guidance(template, llm=llm)()                       # served from the cache
    guidance.llms.OpenAI.cache.clear()                  # forget OpenAI generations

`caching=` on a program overrides the model's setting for that run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import re

from guidance_engine.llms import cache_store
from guidance_engine.llms.base import (
    LLM,
    ChunkCallback,
    GenRequest,
    GenResult,
    SelectRequest,
    SelectResult,
    Session,
)
from guidance_engine.llms.cache_store import GenerationCache

__all__ = ["CachedSession", "GenerationCache", "cache_key", "deterministic"]

_WORDS = re.compile(r"\s*\S+|\s+")


def cache_key(llm: LLM, kind: str, request: GenRequest | SelectRequest) -> str:
    """A digest of everything that decides the answer: model identity and the whole request."""
    fields = dataclasses.asdict(request)
    fields["segments"] = [dataclasses.astuple(s) for s in request.structured]
    payload = {"model": llm.cache_identity(), "kind": kind, "request": fields}
    text = json.dumps(payload, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def deterministic(request: GenRequest | SelectRequest) -> bool:
    """Only calls whose answer repeats are cached: greedy, or sampled with a seed."""
    return request.temperature == 0 or request.seed is not None


class CachedSession(Session):
    """Wraps a backend session: deterministic calls are answered from the cache when they can
    be, and stored after a real call."""

    def __init__(self, inner: Session, llm: LLM, cache: GenerationCache | None = None) -> None:
        self.inner = inner
        self.llm = llm
        self.cache = cache or cache_store.DEFAULT
        self.hits = 0

    @property
    def backend(self) -> str:
        return type(self.llm).__name__

    async def gen(self, request: GenRequest, on_chunk: ChunkCallback | None = None) -> GenResult:
        if not deterministic(request):
            return await self.inner.gen(request, on_chunk)
        key = cache_key(self.llm, "gen", request)
        cached = self.cache.get(key)
        if isinstance(cached, GenResult):
            self.hits += 1
            await _replay(cached, on_chunk)
            return cached
        result = await self.inner.gen(request, on_chunk)
        self.cache.set(key, result, self.backend)
        return result

    async def select(self, request: SelectRequest) -> SelectResult:
        if not deterministic(request):
            return await self.inner.select(request)
        key = cache_key(self.llm, "select", request)
        cached = self.cache.get(key)
        if isinstance(cached, SelectResult):
            self.hits += 1
            return cached
        result = await self.inner.select(request)
        self.cache.set(key, result, self.backend)
        return result

    def close(self) -> None:
        self.inner.close()


async def _replay(result: GenResult, on_chunk: ChunkCallback | None) -> None:
    """Stream a cached answer word by word, as the backend would have."""
    if on_chunk is None:
        return
    for index, text in enumerate(result.texts):
        for word in _WORDS.findall(text):
            on_chunk(index, word)
            await asyncio.sleep(0)
