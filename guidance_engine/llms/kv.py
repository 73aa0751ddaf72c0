"""KV cache helper: the one place that touches transformers' cache API (crop, snapshot, batch),
and the bounded cross-run cache of prefix snapshots.

transformers 5.x `DynamicLayer.update` grows keys/values with `torch.cat`, a copy of each
layer's whole cache at every pass (60 copies of ~24 MB for SmolLM2-135M at 530 tokens). Our
layers (`InPlaceLayer`) keep a buffer with spare room instead, write each pass's new keys and
values into it in place and hand the model views `buf[..., :length, :]`. Because the live cache
is now written in place, whatever outlives it owns its memory: `snapshot()` copies, a session
closing hands its buffers to the prefix cache (`take_snapshot()`, no copy: the cache is emptied),
and a cache restored from a snapshot only reads it: its first write moves the data into a buffer
of its own (the copy the first `torch.cat` used to make).

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
from transformers.cache_utils import Cache, DynamicLayer

# Per layer: keys and values, each [batch, kv_heads, seq, head_dim].
LayerKV = tuple[torch.Tensor, torch.Tensor]

# Spare room a buffer gets when it grows: half its new length, at least this many positions.
_MIN_SPARE = 64


class InPlaceLayer(DynamicLayer):
    """One layer's keys and values in buffers with spare room, appended in place.

    `keys`/`values` are views `buf[..., :length, :]`. A layer that does not own its buffer
    (restored from a snapshot, or its tensors replaced by another method) copies into a new
    buffer at its next write, so tensors it was handed are never written.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._buffers: LayerKV | None = None  # [B, H, capacity, D] each
        self._view: torch.Tensor | None = None  # the `keys` view we last handed out

    @classmethod
    def holding(cls, keys: torch.Tensor, values: torch.Tensor) -> InPlaceLayer:
        """A layer reading `keys`/`values` (never writing them)."""
        layer = cls()
        layer.device = keys.device
        layer.keys, layer.values, layer.is_initialized = keys, values, True
        return layer

    @property
    def owns_buffer(self) -> bool:
        return self._buffers is not None and self.keys is self._view

    @property
    def capacity(self) -> int:
        return int(self._buffers[0].shape[-2]) if self.owns_buffer and self._buffers else 0

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        length = self.get_seq_length()
        end = length + int(key_states.shape[-2])
        if end > self.capacity or not self._fits(key_states):
            self._grow(end, key_states, value_states)
        assert self._buffers is not None
        self._buffers[0][..., length:end, :].copy_(key_states)
        self._buffers[1][..., length:end, :].copy_(value_states)
        self._set_length(end)
        assert self.keys is not None and self.values is not None
        return self.keys, self.values

    def _fits(self, new: torch.Tensor) -> bool:
        assert self._buffers is not None
        buf = self._buffers[0]
        return buf.shape[:2] == new.shape[:2] and buf.shape[-1] == new.shape[-1]

    def _grow(self, end: int, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        """New buffers for `end` positions plus spare room, holding the current contents."""
        capacity = end + max(end // 2, _MIN_SPARE)
        length = self.get_seq_length()
        buffers = []
        for old, new in ((self.keys, key_states), (self.values, value_states)):
            b, h, _, d = new.shape
            buf = new.new_empty((b, h, capacity, d))
            if length:
                assert old is not None
                buf[..., :length, :].copy_(old)
            buffers.append(buf)
        self._buffers = (buffers[0], buffers[1])

    def _set_length(self, length: int) -> None:
        assert self._buffers is not None
        self.keys = self._buffers[0][..., :length, :]
        self.values = self._buffers[1][..., :length, :]
        self._view = self.keys

    def crop(self, tokens_to_remove: int) -> None:
        """Drop the last `-tokens_to_remove` positions (transformers' negative count)."""
        if not self.owns_buffer:
            super().crop(tokens_to_remove)
            return
        if tokens_to_remove > 0:
            raise ValueError(f"crop takes a negative count of tokens to remove; found "
                             f"{tokens_to_remove}")
        self._set_length(max(self.get_seq_length() + tokens_to_remove, 0))

    def keep_positions(self, index: torch.Tensor, first_moved: int) -> None:
        """Keep the positions `index` (in order); the first `first_moved` stay where they are."""
        if not self.is_initialized or self.keys is None or self.values is None:
            return
        if not self.owns_buffer:
            self.keys = self.keys.index_select(-2, index)
            self.values = self.values.index_select(-2, index)
            return
        tail = index[first_moved:]
        end = first_moved + int(tail.numel())
        moved = [t.index_select(-2, tail) for t in (self.keys, self.values)]  # copies first
        assert self._buffers is not None
        for buf, rows in zip(self._buffers, moved, strict=True):
            buf[..., first_moved:end, :].copy_(rows)
        self._set_length(end)

    def reset(self) -> None:
        self._buffers = self._view = None
        super().reset()


class InPlaceCache(DynamicCache):
    """A `DynamicCache` of `InPlaceLayer`s (one per model layer, made at first use)."""

    def __init__(self, layers: list[InPlaceLayer] | None = None) -> None:
        Cache.__init__(self, layer_class_to_replicate=InPlaceLayer)
        self.layers.extend(layers or [])


@dataclass(frozen=True)
class Snapshot:
    """An immutable cache content (batch 1) at `length` tokens. `owned`: its tensors belong to
    it alone (a copy, or the buffers of a cache that is gone), not views into something else."""

    layers: tuple[LayerKV, ...]
    length: int
    owned: bool = True

    @property
    def nbytes(self) -> int:
        """Bytes held: the whole storage behind each tensor (spare room included)."""
        return sum(k.untyped_storage().nbytes() + v.untyped_storage().nbytes()
                   for k, v in self.layers)

    def prefix(self, length: int) -> Snapshot:
        """The snapshot of the first `length` tokens (a slice, no copy)."""
        assert 0 <= length <= self.length, (length, self.length)
        layers = tuple((k[..., :length, :], v[..., :length, :]) for k, v in self.layers)
        return Snapshot(layers, length, owned=False)


class KVCache:
    """An `InPlaceCache` plus the few operations the session needs."""

    def __init__(self, cache: DynamicCache | None = None) -> None:
        self.cache = cache if cache is not None else InPlaceCache()

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
        """A copy of the current contents (row 0 of a batch): later writes leave it as is."""
        with torch.inference_mode():
            layers = tuple((_copy(k[:1]), _copy(v[:1])) for k, v in self._layers())
        return Snapshot(layers, self.length)

    def take_snapshot(self) -> Snapshot:
        """The contents as a snapshot, and this cache emptied: the buffers of a one-row cache
        pass to the snapshot without a copy (a session hands its cache to the prefix cache at
        close this way)."""
        one_row = self.batch == 1
        taken = Snapshot(tuple(self._layers()), self.length) if one_row else self.snapshot()
        self.cache = InPlaceCache()
        return taken

    @staticmethod
    def restore(snapshot: Snapshot, batch: int = 1) -> KVCache:
        """A fresh cache holding `snapshot`, repeated `batch` times along the batch axis.

        A batch of one reads the snapshot's tensors until its first write copies them."""
        if snapshot.length == 0:
            return KVCache()
        layers = [InPlaceLayer.holding(k, v) for k, v in snapshot.layers]
        kv = KVCache(InPlaceCache(layers))
        return kv.repeat(batch) if batch > 1 else kv

    def repeat(self, batch: int) -> KVCache:
        """A new cache holding row 0 of this one `batch` times (each row its own storage)."""
        layers = []
        with torch.inference_mode():
            for k, v in self._layers():
                shape = (batch, *k.shape[1:])
                layers.append(InPlaceLayer.holding(_copy(k[:1].expand(shape)),
                                                   _copy(v[:1].expand(shape))))
        return KVCache(InPlaceCache(layers))

    def keep_positions(self, positions: list[int]) -> None:
        """Keep only the given sequence positions, in order (a path through a token trie).

        Exact when each kept entry attended only to kept entries, as trie nodes on one
        root-to-leaf path do; the result is the cache of that path fed on its own.
        """
        first_moved = next((i for i, p in enumerate(positions) if p != i), len(positions))
        index = torch.tensor(positions, dtype=torch.long, device=self._device())
        with torch.inference_mode():
            for layer in self.cache.layers:
                keys, values = getattr(layer, "keys", None), getattr(layer, "values", None)
                if isinstance(layer, InPlaceLayer):
                    layer.keep_positions(index, first_moved)
                elif keys is not None and values is not None and keys.numel():
                    layer.keys = keys.index_select(-2, index)  # type: ignore[union-attr]
                    layer.values = values.index_select(-2, index)  # type: ignore[union-attr]

    def select_rows(self, rows: list[int]) -> None:
        """Keep only the given batch rows (in that order)."""
        index = torch.tensor(rows, dtype=torch.long, device=self._device())
        with torch.inference_mode():
            self.cache.batch_select_indices(index)

    def _device(self) -> torch.device:
        layers = self._layers()
        return layers[0][0].device if layers else torch.device("cpu")


def _copy(tensor: torch.Tensor) -> torch.Tensor:
    """A contiguous copy (`contiguous()` alone returns contiguous tensors themselves)."""
    return tensor.clone(memory_format=torch.contiguous_format)


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
        if snapshot.length == 0 or self.max_bytes <= 0:
            return
        key = tuple(tokens[: snapshot.length])
        # Own the memory: a view (a `prefix()`) would pin its whole parent tensor, and
        # the parent may be a live cache's buffer, written later.
        owned = snapshot
        if not snapshot.owned:
            owned = Snapshot(tuple((_copy(k), _copy(v)) for k, v in snapshot.layers),
                             snapshot.length)
        if owned.nbytes > self.max_bytes:
            return
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
