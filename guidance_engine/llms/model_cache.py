"""Listing and clearing the cache root: the `guidance-engine cache` command's model.

Every directory (or file) under the cache root is a `CacheEntry`; a converted model's entry
says whether its parts are complete (their `complete.json` markers, `model_store.py`)::

    >>> [(e.name, e.status) for e in cache_entries()]
    [('SmolLM2-135M-Instruct.Q4_1-...', 'complete'), ('token-index', '')]
    >>> remove_entry("token-index")   # bytes freed
    812345
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from guidance_engine.llms.model_store import (
    MARKER,
    PROCESS_LOCK,
    cache_root,
    entry_lock,
    marker_files,
    remove_path,
)


@dataclass(frozen=True)
class CacheEntry:
    """One directory (or file) in the cache root: a converted model or another cached thing."""

    name: str
    path: Path
    size: int  # bytes on disk
    kind: str  # "model" (a converted GGUF) or "other" (token index, assembled GGUFs, ...)
    status: str  # "complete", what is wrong with a model entry, or "" for other entries
    source: str  # the GGUF a model entry was converted from, when its marker says


def cache_entries() -> list[CacheEntry]:
    """Every entry of the cache root, sorted by name (empty when there is no cache yet).

    >>> [e.name for e in cache_entries()]
    ['SmolLM2-135M-Instruct.Q4_1-...', 'token-index']
    """
    root = cache_root()
    if not root.is_dir():
        return []
    return [_describe_entry(path) for path in sorted(root.iterdir())]


def _describe_entry(path: Path) -> CacheEntry:
    size = _disk_size(path)
    parts = [path / part for part in ("tokenizer", "model")]
    if not path.is_dir() or not any(p.exists() for p in parts):
        return CacheEntry(path.name, path, size, "other", "", "")
    problems = [f"{p.name}: {problem}" for p in parts
                if (problem := _marker_problem(p)) is not None]
    stale = sorted(p.name for p in path.glob("*.tmp-*"))
    if stale:
        problems.append(f"{len(stale)} unfinished conversion(s)")
    source = ""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        source = str(json.loads((parts[1] / MARKER).read_text()).get("source", ""))
    return CacheEntry(path.name, path, size, "model", "; ".join(problems) or "complete", source)


def _marker_problem(part: Path) -> str | None:
    files = marker_files(part)
    return files if isinstance(files, str) else None


def _disk_size(path: Path) -> int:
    if not path.is_dir():
        return path.stat().st_size if path.exists() else 0
    total = 0
    for dirpath, _, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                total += (Path(dirpath) / name).lstat().st_size
    return total


def remove_entry(name: str) -> int:
    """Delete the cache entry `name` (waiting for a conversion in progress); returns the bytes
    freed. Raises KeyError when there is no such entry."""
    root = cache_root()
    path = root / name
    if "/" in name or name in ("", ".", "..") or not (path.exists() or path.is_symlink()):
        raise KeyError(name)
    size = _disk_size(path)
    if path.is_dir() and (path / ".lock").exists():
        with PROCESS_LOCK, entry_lock(path):
            _remove_contents(path)
        remove_path(path)
    else:
        remove_path(path)
    return size


def _remove_contents(path: Path) -> None:
    for child in path.iterdir():
        if child.name != ".lock":
            remove_path(child)
