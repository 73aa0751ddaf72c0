"""Generation caching: one layer around any backend's session, stored with `diskcache`.

A deterministic call (temperature 0, or any temperature with a `seed`) is keyed by the model's
identity (backend, model, endpoint), the full structured prompt and every request field; a hit
is served without calling the model and streams its text like a run. The store lives under the
project cache directory (`$GUIDANCE_ENGINE_CACHE`, default `~/.cache/guidance_engine`) in
`generations/`, bounded in size (least recently used entries go first)::

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
import threading
from pathlib import Path
from typing import Any

from guidance_engine.llms.base import (
    LLM,
    ChunkCallback,
    GenRequest,
    GenResult,
    SelectRequest,
    SelectResult,
    Session,
)

SIZE_LIMIT = 2**30  # bytes kept on disk before the least recently used entries are evicted
_WORDS = re.compile(r"\s*\S+|\s+")


class GenerationCache:
    """The on-disk store (opened on first use). Entries are tagged with the backend's name."""

    def __init__(self, directory: Path | None = None, size_limit: int = SIZE_LIMIT) -> None:
        self._directory = directory
        self.size_limit = size_limit
        self._store: Any = None
        self._lock = threading.Lock()

    @property
    def directory(self) -> Path:
        if self._directory is None:
            from guidance_engine.llms.model_store import cache_root

            self._directory = cache_root() / "generations"
        return self._directory

    @property
    def store(self) -> Any:
        with self._lock:
            if self._store is None:
                import diskcache

                self._store = diskcache.Cache(str(self.directory), size_limit=self.size_limit)
            return self._store

    def get(self, key: str) -> Any:
        return self.store.get(key)

    def set(self, key: str, value: Any, backend: str) -> None:
        self.store.set(key, value, tag=backend)

    def clear(self, backend: str | None = None) -> int:
        """Remove the entries of `backend` (all entries when None); returns how many."""
        if backend is None:
            return int(self.store.clear())
        return int(self.store.evict(backend))

    def __len__(self) -> int:
        return len(self.store)


DEFAULT = GenerationCache()


@dataclasses.dataclass(frozen=True)
class CacheView:
    """`guidance.llms.OpenAI.cache`: the generations of one backend class (0.0.64 API)."""

    backend: str
    cache: GenerationCache | None = None  # None: the default store

    def clear(self) -> int:
        """Forget this backend's cached generations; returns how many were removed."""
        return (self.cache or DEFAULT).clear(self.backend)


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
        self.cache = cache or DEFAULT
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
