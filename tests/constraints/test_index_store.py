"""The stored vocabulary table: round trip, invalidation, corrupt files, and what it spares."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from guidance_engine.constraints import ConstraintSpec, Matcher, TokenIndex
from guidance_engine.constraints.index_store import (
    VocabTable,
    load_table,
    save_table,
    table_key,
    table_path,
)


@pytest.fixture(scope="module")
def smol_table(smol: TokenIndex) -> VocabTable:
    return VocabTable.from_engine(smol.ll)


def _key(tok: Any) -> str:
    return table_key(tok.backend_tokenizer.to_str(), tok.eos_token_id)


def test_table_round_trips_exactly(tmp_path: Path, smol_table: VocabTable) -> None:
    path = save_table(tmp_path, "k1", smol_table)
    assert path == table_path(tmp_path, "k1") and path.is_file()
    assert load_table(tmp_path, "k1") == smol_table
    assert load_table(tmp_path, "missing") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k1.npz"]  # no temporary left


def test_a_second_process_loads_the_table_and_never_builds_the_engine(
    tmp_path: Path, smol_tokenizer: Any, smol: TokenIndex
) -> None:
    # Two tokenizer objects with the same content stand for two processes.
    first = TokenIndex.for_tokenizer(copy.deepcopy(smol_tokenizer), store=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [f"{_key(smol_tokenizer)}.npz"]
    second = TokenIndex.for_tokenizer(copy.deepcopy(smol_tokenizer), store=tmp_path)
    assert second is not first and second._ll is None
    assert second.table == first.table == smol.table
    assert second.has_extension(b":") and second.tokens_with_prefix(b" wor") == \
        smol.tokens_with_prefix(b" wor")
    # healing alone, as an unconstrained gen uses it: still no engine tokenizer
    healing = Matcher(ConstraintSpec(healing_prefix=" wor"), second)
    logits = torch.zeros(second.vocab_size)
    healing.apply_mask(logits)
    healing.consume(smol_tokenizer.convert_tokens_to_ids("Ġworld"))
    assert healing.is_free() and second._ll is None
    # a constraint builds it on demand, from the tokenizer's JSON
    pattern = Matcher(ConstraintSpec(pattern="[0-9]{2}"), second)
    assert pattern.forced_tokens() == [] and second._ll is not None
    assert second.encode("http://") == smol.encode("http://")


def test_a_changed_tokenizer_gets_a_new_table(tmp_path: Path, smol_tokenizer: Any) -> None:
    base = copy.deepcopy(smol_tokenizer)
    before = TokenIndex.for_tokenizer(base, store=tmp_path)
    changed = copy.deepcopy(smol_tokenizer)
    changed.add_tokens(["<perf-test-token>"])
    assert _key(changed) != _key(base)
    index = TokenIndex.for_tokenizer(changed, store=tmp_path)
    assert (index.vocab_size, before.vocab_size) == (49153, 49152)
    assert len(list(tmp_path.iterdir())) == 2
    # another EOS is another table too (EOS ids are part of it)
    assert table_key(base.backend_tokenizer.to_str(), 0) != _key(base)


def _corrupt_truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _corrupt_flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the token bytes: caught by the zip CRC-32
    path.write_bytes(bytes(data))


def _corrupt_garbage(path: Path) -> None:
    path.write_bytes(b"not a table")


@pytest.mark.parametrize("corrupt", [_corrupt_truncate, _corrupt_flip, _corrupt_garbage])
def test_a_corrupt_file_is_rebuilt(
    tmp_path: Path, smol_tokenizer: Any, smol_table: VocabTable, corrupt: Any
) -> None:
    key = _key(smol_tokenizer)
    path = save_table(tmp_path, key, smol_table)
    corrupt(path)
    assert load_table(tmp_path, key) is None
    index = TokenIndex.for_tokenizer(copy.deepcopy(smol_tokenizer), store=tmp_path)
    assert index.table == smol_table
    assert load_table(tmp_path, key) == smol_table  # rewritten


def test_a_file_under_another_key_or_with_bad_shapes_is_not_used(
    tmp_path: Path, smol_table: VocabTable
) -> None:
    save_table(tmp_path, "a", smol_table)
    table_path(tmp_path, "a").rename(table_path(tmp_path, "b"))
    assert load_table(tmp_path, "b") is None
    with np.load(table_path(tmp_path, "b")) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["key"] = np.frombuffer(b"c", dtype=np.uint8)
    arrays["order"] = np.array([10**6], dtype=np.int32)  # an id past the vocabulary
    np.savez(table_path(tmp_path, "c"), **arrays)
    assert load_table(tmp_path, "c") is None


def test_an_unwritable_store_still_gives_an_index(tmp_path: Path, smol_tokenizer: Any) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the store directory should be")
    index = TokenIndex.for_tokenizer(copy.deepcopy(smol_tokenizer), store=blocker / "index")
    assert index.vocab_size == 49152 and index.has_extension(b":")


def test_healing_mask_without_the_engine_equals_the_engines(smol: TokenIndex) -> None:
    """The engine-free first step of a healing-only gen allows exactly what the engine would."""
    rng = np.random.default_rng(0)
    prefixes = {smol.token_bytes(int(t)) for t in rng.integers(0, smol.vocab_size, 400)}
    prefixes |= {b":", b" ", b" wor", b'="', b" whi", b"\n"}
    bits = torch.zeros((smol.vocab_size + 31) // 32, dtype=torch.int32)
    checked = 0
    for prefix in sorted(prefixes):
        try:
            text = prefix.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if not text or not smol.has_token_with_prefix(prefix):
            continue
        lazy = Matcher(ConstraintSpec(healing_prefix=text), smol)
        engine = Matcher(ConstraintSpec(healing_prefix=text), smol)
        engine.fill_bitmask(bits)  # compiles the engine
        unpacked = np.unpackbits(bits.numpy().view(np.uint8), bitorder="little")
        by_engine = unpacked[: smol.vocab_size].astype(bool) & smol.prefix_mask(prefix)
        assert np.array_equal(lazy.mask().numpy(), by_engine), prefix
        assert lazy._engine_state is None
        checked += 1
    assert checked > 300
