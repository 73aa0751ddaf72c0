"""The KV helper and the cross-run prefix cache on hand-made tensors (no model)."""

from __future__ import annotations

import torch
from transformers import DynamicCache

from guidance_engine.llms.kv import KVCache, PrefixCache, Snapshot, common_prefix


def cache_of(length: int, layers: int = 2) -> KVCache:
    """A cache whose entry at position p holds the value p (shape [1, 1, length, 2])."""
    data = []
    for _ in range(layers):
        k = torch.arange(length, dtype=torch.float32).view(1, 1, length, 1).expand(1, 1, length, 2)
        data.append((k.contiguous(), (k + 100).contiguous()))
    return KVCache(DynamicCache(ddp_cache_data=data))


def positions(kv: KVCache) -> list[int]:
    return [int(x) for x in kv.snapshot().layers[0][0][0, 0, :, 0].tolist()]


def test_crop_snapshot_restore_and_keep_positions() -> None:
    kv = cache_of(6)
    snap = kv.snapshot()
    kv.crop(4)
    assert (kv.length, positions(kv)) == (4, [0, 1, 2, 3])
    assert snap.length == 6  # a snapshot is not affected by later crops
    batch = KVCache.restore(snap.prefix(3), batch=3)
    assert (batch.length, batch.batch) == (3, 3)
    kv = cache_of(6)
    kv.keep_positions([0, 1, 4])
    assert positions(kv) == [0, 1, 4]
    assert kv.snapshot().layers[1][1][0, 0, :, 0].tolist() == [100.0, 101.0, 104.0]


def test_prefix_cache_finds_the_longest_shared_prefix_and_evicts_lru() -> None:
    one = cache_of(4).snapshot()  # 2 layers x (k, v) x 4 positions x 2 floats = 128 bytes
    assert one.nbytes == 128
    cache = PrefixCache(max_bytes=300)
    cache.store([1, 2, 3, 4], one)
    cache.store([1, 2, 9, 9], one)
    hit = cache.lookup([1, 2, 3, 7, 7])
    assert hit is not None
    tokens, snap = hit
    assert tokens == (1, 2, 3)
    assert isinstance(snap, Snapshot) and snap.length == 3
    # 384 bytes > 300: the least recently used entry ([1, 2, 9, 9]; the lookup above
    # refreshed [1, 2, 3, 4]) goes.
    cache.store([5, 6, 7, 8], one)
    assert len(cache) == 2
    survivor = cache.lookup([1, 2, 9, 9])
    assert survivor is not None and survivor[0] == (1, 2)  # only [1, 2, 3, 4] shares a prefix
    again = cache.lookup([5, 6])
    assert again is not None and again[0] == (5, 6)


def test_common_prefix() -> None:
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix([], [1]) == 0
