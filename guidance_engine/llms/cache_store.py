"""The on-disk store of cached generations (`diskcache`, opened on first use), and the 0.0.64
handle on it, `SomeLLM.cache`::

    guidance.llms.OpenAI.cache.clear()   # forget OpenAI's cached generations

The caching layer around sessions is `caching.py`; this module knows nothing of models, so the
model contract (`base.py`) can offer `LLM.cache` without importing that layer.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

SIZE_LIMIT = 2**30  # bytes kept on disk before the least recently used entries are evicted


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
