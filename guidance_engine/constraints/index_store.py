"""The vocabulary table behind a `TokenIndex`, and its on-disk copy keyed by tokenizer content.

Building the table needs the constraint engine's tokenizer (~0.25 s for SmolLM2's 49k tokens,
4 s for Gemma3's 262k, holding the GIL all along); loading the stored copy takes milliseconds.
The file name is a hash of everything the table is computed from (the tokenizer's serialized
JSON, its EOS id, the engine's version and this format's number), so a changed tokenizer gets a
new file and never reads a stale one::

    >>> key = table_key(hf_tokenizer.backend_tokenizer.to_str(), hf_tokenizer.eos_token_id)
    >>> table = load_table(store, key)          # None when missing or unreadable
    >>> table is None and save_table(store, key, VocabTable.from_engine(ll_tokenizer))

A file that cannot be read back exactly (truncated, bit flips, wrong shapes, another key) is
treated as missing: the caller rebuilds the table and overwrites it. Writes go through a
temporary file and an atomic rename, so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import llguidance
import numpy as np

FORMAT = 1
_SUFFIX = ".npz"


@dataclass(frozen=True)
class VocabTable:
    """Each token's bytes (b"" for special tokens), which are special, the EOS ids, and the
    token ids ordered by their bytes (the order prefix queries binary-search in)."""

    token_bytes: tuple[bytes, ...]
    special: tuple[bool, ...]
    eos_id: int
    eos_ids: tuple[int, ...]
    order: tuple[int, ...]  # ids of non-special tokens, sorted by (bytes, id)

    @property
    def vocab_size(self) -> int:
        return len(self.token_bytes)

    @staticmethod
    def from_engine(ll: llguidance.LLTokenizer) -> VocabTable:
        """Read the table out of the engine's tokenizer (the slow path).

        >>> VocabTable.from_engine(ll).vocab_size
        49152
        """
        n = ll.vocab_size
        special = tuple(ll.is_special_token(i) for i in range(n))
        data = tuple(b"" if special[i] else ll.decode_bytes([i]) for i in range(n))
        order = tuple(sorted((i for i in range(n) if data[i]), key=lambda i: (data[i], i)))
        return VocabTable(data, special, int(ll.eos_token), tuple(ll.eos_tokens), order)


def table_key(tokenizer_json: str | bytes, eos_token_id: int | None) -> str:
    """The file key for a tokenizer: changes with its content, its EOS and the engine version."""
    h = hashlib.sha256()
    for part in (f"format={FORMAT}", f"engine={llguidance.__version__}", f"eos={eos_token_id}"):
        h.update(part.encode() + b"\0")
    data = tokenizer_json.encode("utf-8") if isinstance(tokenizer_json, str) else tokenizer_json
    h.update(data)
    return h.hexdigest()[:32]


def table_path(store: Path, key: str) -> Path:
    return store / f"{key}{_SUFFIX}"


def save_table(store: Path, key: str, table: VocabTable) -> Path:
    """Write `table` as `<store>/<key>.npz` (atomically); returns the path."""
    store.mkdir(parents=True, exist_ok=True)
    lengths = np.fromiter((len(b) for b in table.token_bytes), dtype=np.int64,
                          count=table.vocab_size)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    arrays: dict[str, np.ndarray] = {
        "key": np.frombuffer(key.encode("ascii"), dtype=np.uint8),
        "meta": np.array([FORMAT, table.vocab_size, table.eos_id], dtype=np.int64),
        "blob": np.frombuffer(b"".join(table.token_bytes), dtype=np.uint8),
        "offsets": offsets,
        "special": np.array(table.special, dtype=np.bool_),
        "eos_ids": np.array(table.eos_ids, dtype=np.int64),
        "order": np.array(table.order, dtype=np.int32),
    }
    fd, tmp = tempfile.mkstemp(prefix=key + ".", suffix=".tmp", dir=store)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
        os.chmod(tmp, 0o644)  # like the other cache files (mkstemp makes it private)
        os.replace(tmp, table_path(store, key))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return table_path(store, key)


def load_table(store: Path, key: str) -> VocabTable | None:
    """The stored table for `key`, or None when it is missing or not exactly readable."""
    path = table_path(store, key)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}  # reading checks each CRC-32
        return _table_from_arrays(arrays, key)
    except (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile):
        return None


def _table_from_arrays(a: dict[str, np.ndarray], key: str) -> VocabTable | None:
    if a["key"].tobytes() != key.encode("ascii") or a["meta"].shape != (3,):
        return None
    fmt, n, eos_id = (int(x) for x in a["meta"])
    offsets, blob, special, order = a["offsets"], a["blob"], a["special"], a["order"]
    shapes_ok = (fmt == FORMAT and offsets.shape == (n + 1,) and special.shape == (n,)
                 and int(offsets[0]) == 0 and int(offsets[-1]) == blob.size
                 and bool(np.all(np.diff(offsets) >= 0)) and 0 <= eos_id < n
                 and order.ndim == 1 and (order.size == 0 or 0 <= order.min() <= order.max() < n))
    if not shapes_ok:
        return None
    data, offs = blob.tobytes(), offsets.tolist()
    token_bytes = tuple(data[offs[i]:offs[i + 1]] for i in range(n))
    eos_ids = tuple(int(x) for x in a["eos_ids"])
    return VocabTable(token_bytes, tuple(special.tolist()), eos_id, eos_ids,
                      tuple(order.tolist()))
