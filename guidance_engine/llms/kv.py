"""KV cache helper: the one place that touches transformers' cache API (crop, snapshot, batch),
and the bounded cross-run cache of prefix snapshots.

transformers 5.x `DynamicLayer.update` grows keys/values with `torch.cat` and `crop(-k)` slices,
so cached tensors are never written in place. A snapshot is therefore just the per-layer tensor
references, taken and restored (batch of one) without a copy; the prefix cache relies on it.
Caches are built without the model config, so every layer keeps its full history, also in
models with sliding-window layers (Gemma3): the model's attention masks apply the window, and
cropping never has to recover states a sliding layer already dropped.

    >>> kv = KVCache()
    >>> out = model(input_ids, cache=kv.cache, use_cache=True)
    >>> kv.length, kv.crop(3), kv.length
    (12, None, 3)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache

# Per layer: keys and values, each [batch, kv_heads, seq, head_dim].
LayerKV = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Snapshot:
    """An immutable view of a cache's contents (batch 1) at `length` tokens."""

    layers: tuple[LayerKV, ...]
    length: int

    @property
    def nbytes(self) -> int:
        return sum(k.numel() * k.element_size() * 2 for k, _ in self.layers)

    def prefix(self, length: int) -> Snapshot:
        """The snapshot of the first `length` tokens (a slice, no copy)."""
        assert 0 <= length <= self.length, (length, self.length)
        layers = tuple((k[..., :length, :], v[..., :length, :]) for k, v in self.layers)
        return Snapshot(layers, length)


class KVCache:
    """A `DynamicCache` plus the few operations the session needs."""

    def __init__(self, cache: DynamicCache | None = None) -> None:
        self.cache = cache if cache is not None else DynamicCache()

    @property
    def length(self) -> int:
        return int(self.cache.get_seq_length())

    @property
    def batch(self) -> int:
        layers = self._layers()
        return int(layers[0][0].shape[0]) if layers else 1

    def _layers(self) -> list[LayerKV]:
        out: list[LayerKV] = []
        for layer in self.cache.layers:
            keys, values = getattr(layer, "keys", None), getattr(layer, "values", None)
            if getattr(layer, "is_initialized", False) and keys is not None and values is not None:
                out.append((keys, values))
        return out

    def crop(self, length: int) -> None:
        """Keep only the first `length` tokens (transformers 5.x takes a negative count)."""
        remove = self.length - length
        assert remove >= 0, f"cannot crop a {self.length}-token cache up to {length}"
        if remove:
            self.cache.crop(-remove)

    def snapshot(self) -> Snapshot:
        """The current contents (row 0 of a batch) as an immutable snapshot."""
        layers = tuple((k[:1], v[:1]) for k, v in self._layers())
        return Snapshot(layers, self.length)

    @staticmethod
    def restore(snapshot: Snapshot, batch: int = 1) -> KVCache:
        """A fresh cache holding `snapshot`, repeated `batch` times along the batch axis."""
        if snapshot.length == 0:
            return KVCache()
        data: list[Any] = []
        for k, v in snapshot.layers:
            if batch > 1:
                # contiguous() copies: each row gets storage of its own.
                k = k.expand(batch, -1, -1, -1).contiguous()
                v = v.expand(batch, -1, -1, -1).contiguous()
            # A batch of one shares the snapshot's tensors: the cache only ever replaces them
            # (update concatenates, crop slices, keep_positions selects), never writes into
            # them, and the next pass's concatenation makes the one copy a copy here would.
            data.append((k, v))
        return KVCache(DynamicCache(ddp_cache_data=data))

    def keep_positions(self, positions: list[int]) -> None:
        """Keep only the given sequence positions, in order (a path through a token trie).

        Exact when each kept entry attended only to kept entries, as trie nodes on one
        root-to-leaf path do; the result is the cache of that path fed on its own.
        """
        index = torch.tensor(positions, dtype=torch.long, device=self._device())
        for layer in self.cache.layers:
            keys, values = getattr(layer, "keys", None), getattr(layer, "values", None)
            if keys is not None and values is not None and keys.numel():
                layer.keys = keys.index_select(-2, index)  # type: ignore[union-attr]
                layer.values = values.index_select(-2, index)  # type: ignore[union-attr]

    def select_rows(self, rows: list[int]) -> None:
        """Keep only the given batch rows (in that order)."""
        index = torch.tensor(rows, dtype=torch.long, device=self._device())
        self.cache.batch_select_indices(index)

    def _device(self) -> torch.device:
        layers = self._layers()
        return layers[0][0].device if layers else torch.device("cpu")


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PrefixCache:
    """Least-recently-used snapshots of token prefixes, bounded by their total bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[int, ...], Snapshot] = OrderedDict()
        # Sessions of one model run on their own worker threads and share this cache.
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def store(self, tokens: Sequence[int], snapshot: Snapshot) -> None:
        if snapshot.length == 0 or snapshot.nbytes > self.max_bytes:
            return
        key = tuple(tokens[: snapshot.length])
        # Own the memory: a view would pin the whole (possibly batch-sized) parent tensor.
        owned = Snapshot(tuple((k.clone(), v.clone()) for k, v in snapshot.layers),
                         snapshot.length)
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = owned
            while self.nbytes > self.max_bytes:
                self._entries.popitem(last=False)

    def lookup(self, tokens: Sequence[int]) -> tuple[tuple[int, ...], Snapshot] | None:
        """The entry sharing the longest prefix with `tokens`, cut to that prefix."""
        best: tuple[int, tuple[int, ...]] | None = None
        with self._lock:
            for key in self._entries:
                common = common_prefix(key, tokens)
                if common > 0 and (best is None or common > best[0]):
                    best = (common, key)
            if best is None:
                return None
            common, key = best
            self._entries.move_to_end(key)
            return key[:common], self._entries[key].prefix(common)
