"""The in-place KV cache (`InPlaceLayer`/`InPlaceCache` in llms/kv.py): buffers written in place,
snapshots that stay valid, and the same logits as transformers' `DynamicCache` on the real model."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import DynamicCache

from guidance_engine.llms.kv import InPlaceCache, InPlaceLayer, KVCache, PrefixCache


def states(start: int, n: int, batch: int = 1, dtype: torch.dtype = torch.float32,
           ) -> torch.Tensor:
    """Keys for positions start..start+n-1: entry p holds p (row r adds 1000 * r)."""
    pos = torch.arange(start, start + n, dtype=torch.float32).view(1, 1, n, 1)
    rows = 1000 * torch.arange(batch, dtype=torch.float32).view(batch, 1, 1, 1)
    return (pos + rows).expand(batch, 2, n, 3).to(dtype).contiguous()


def feed(kv: KVCache, n: int, layers: int = 2, mark: float = 0.0) -> None:
    """What a forward pass of `n` tokens does to the cache: every layer appends (`mark` is
    added to the new entries)."""
    start, batch = kv.length, kv.batch
    with torch.inference_mode():
        for i in range(layers):
            keys = states(start, n, batch) + mark
            kv.cache.update(keys, keys + 0.5, i)


def column(kv: KVCache, row: int = 0, layer: int = 0) -> list[float]:
    return kv.cache.layers[layer].keys[row, 0, :, 0].tolist()


def test_appends_land_in_one_buffer_until_it_grows() -> None:
    kv = KVCache()
    feed(kv, 10)
    layer = kv.cache.layers[0]
    assert isinstance(layer, InPlaceLayer) and layer.capacity == 10 + 64
    ptr = layer.keys.data_ptr()
    feed(kv, 1)
    feed(kv, 63)  # exactly full: still the same buffer
    assert (kv.length, layer.capacity, layer.keys.data_ptr()) == (74, 74, ptr)
    feed(kv, 1)  # grows by half its new length, keeping the contents
    assert (kv.length, layer.capacity) == (75, 75 + 64)
    assert column(kv) == list(range(75))
    assert kv.cache.layers[1].values[0, 0, :, 0].tolist() == [p + 0.5 for p in range(75)]


def test_a_snapshot_survives_crop_and_rewrite() -> None:
    kv = KVCache()
    feed(kv, 6)
    snap = kv.snapshot()
    kv.crop(3)
    feed(kv, 5, mark=100)  # writes positions 3..7 again, in the same buffer
    assert column(kv) == [0, 1, 2, 103, 104, 105, 106, 107]
    assert snap.layers[0][0][0, 0, :, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert snap.length == 6


def test_restore_reads_the_snapshot_and_copies_it_at_its_first_write() -> None:
    kv = KVCache()
    feed(kv, 6)
    cache = PrefixCache(max_bytes=2**20)
    cache.store(list(range(6)), kv.snapshot())
    hit = cache.lookup([0, 1, 2, 3, 9])
    assert hit is not None
    restored = KVCache.restore(hit[1])
    assert restored.length == 4
    feed(restored, 3, mark=100)  # positions 4..6 of the restored cache: its own buffer now
    restored.crop(2)
    feed(restored, 1, mark=100)
    again = cache.lookup(list(range(6)))
    assert again is not None
    assert again[1].layers[0][0][0, 0, :, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert column(restored) == [0, 1, 102]


def test_a_stored_snapshot_is_not_copied_twice_but_a_prefix_view_is() -> None:
    kv = KVCache()
    feed(kv, 6)
    snap = kv.snapshot()
    cache = PrefixCache(max_bytes=2**20)
    cache.store([1, 2, 3, 4, 5, 6], snap)
    cache.store([7, 8, 9], snap.prefix(3))
    stored = {tokens: cache.lookup(list(tokens)) for tokens in [(1, 2, 3, 4, 5, 6), (7, 8, 9)]}
    whole, part = (hit[1].layers[0][0] for hit in stored.values() if hit is not None)
    assert whole.data_ptr() == snap.layers[0][0].data_ptr()
    assert part.untyped_storage().nbytes() == part.numel() * part.element_size()


def test_take_snapshot_hands_over_the_buffers_and_empties_the_cache() -> None:
    kv = KVCache()
    feed(kv, 5)
    ptr = kv.cache.layers[0].keys.data_ptr()
    snap = kv.take_snapshot()
    assert (snap.length, snap.owned, kv.length) == (5, True, 0)
    assert snap.layers[0][0].data_ptr() == ptr  # no copy
    assert snap.nbytes == 2 * 2 * 2 * (5 + 64) * 3 * 4  # layers, k/v, heads, buffer, dim, fp32
    feed(kv, 3, mark=100)  # the emptied cache writes buffers of its own
    assert snap.layers[0][0][0, 0, :, 0].tolist() == [0, 1, 2, 3, 4]
    batch = kv.repeat(2)
    taken = batch.take_snapshot()  # a batch: row 0, copied
    assert taken.layers[0][0].shape[0] == 1 and taken.nbytes == 2 * 2 * 2 * 3 * 3 * 4


def test_repeat_and_select_rows() -> None:
    kv = KVCache()
    feed(kv, 4)
    batch = kv.repeat(3)
    assert (batch.length, batch.batch) == (4, 3)
    feed(batch, 2)  # row r's new entries hold p + 1000 r
    batch.select_rows([2, 0])
    assert batch.batch == 2
    feed(batch, 1)
    assert column(batch, row=0) == [0, 1, 2, 3, 2004, 2005, 6]
    assert column(batch, row=1) == [0, 1, 2, 3, 4, 5, 1006]
    assert kv.batch == 1 and column(kv) == [0, 1, 2, 3]  # the source is untouched


def test_keep_positions_moves_only_the_tail_and_appends_after_it() -> None:
    kv = KVCache()
    feed(kv, 8)
    ptr = kv.cache.layers[0].keys.data_ptr()
    kv.keep_positions([0, 1, 2, 5, 7])
    assert column(kv) == [0, 1, 2, 5, 7]
    assert kv.cache.layers[1].values[0, 0, :, 0].tolist() == [0.5, 1.5, 2.5, 5.5, 7.5]
    feed(kv, 1)
    assert column(kv) == [0, 1, 2, 5, 7, 5]
    assert kv.cache.layers[0].keys.data_ptr() == ptr


def test_a_cache_handed_tensors_by_transformers_methods_stops_writing_its_old_buffer() -> None:
    kv = KVCache()
    feed(kv, 4)
    layer = kv.cache.layers[0]
    old = layer.keys
    layer.batch_repeat_interleave(2)  # transformers' own method replaces keys/values
    assert not layer.owns_buffer
    feed(kv, 1)
    assert old[0, 0, :, 0].tolist() == [0, 1, 2, 3]
    assert kv.length == 5 and kv.batch == 2


def test_dtype_and_a_dynamic_cache_source_are_kept() -> None:
    cache = InPlaceCache()
    keys = states(0, 5, dtype=torch.bfloat16)
    with torch.inference_mode():
        cache.update(keys, keys, 0)
    assert cache.layers[0].keys.dtype == torch.bfloat16
    data = [(states(0, 3), states(0, 3))]
    plain = KVCache(DynamicCache(ddp_cache_data=data))
    plain.keep_positions([0, 2])
    assert column(plain) == [0, 2]


@pytest.mark.model
def test_same_logits_as_dynamic_cache_on_the_default_model(smol_llm: Any) -> None:
    model = smol_llm.model
    ids = smol_llm.encode("The harbour clerk copied her papers: name, age and")
    caches = {"dynamic": DynamicCache(), "in-place": InPlaceCache()}
    logits: dict[str, list[torch.Tensor]] = {name: [] for name in caches}
    with torch.inference_mode():
        for name, cache in caches.items():
            out = model(input_ids=torch.tensor([ids]), cache=cache, use_cache=True,
                        logits_to_keep=1)
            fed = []
            for _ in range(6):
                logits[name].append(out.logits[0, -1])
                fed.append(out.logits[:, -1].argmax(-1, keepdim=True))
                out = model(input_ids=fed[-1], cache=cache, use_cache=True, logits_to_keep=1)
            # Back to 2 generated tokens, then the third again: the rewritten positions must
            # give the logits it gave the first time.
            cache.crop(-4)
            out = model(input_ids=fed[2], cache=cache, use_cache=True, logits_to_keep=1)
            logits[name].append(out.logits[0, -1])
            torch.testing.assert_close(logits[name][-1], logits[name][3], rtol=1e-5, atol=1e-4)
    for a, b in zip(logits["dynamic"], logits["in-place"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)
    layer = caches["in-place"].layers[0]
    assert isinstance(layer, InPlaceLayer) and layer.owns_buffer
