"""TokenIndex: token bytes, special tokens, prefix queries, memoisation."""

from __future__ import annotations

from typing import Any

from guidance_engine.constraints import TokenIndex


def test_byte_vocabulary_is_one_token_per_byte(byte_index: TokenIndex) -> None:
    assert byte_index.vocab_size == 257
    assert byte_index.eos_id == 256
    assert byte_index.eos_ids == (256,)
    assert byte_index.token_bytes(65) == b"A"
    assert byte_index.token_bytes(256) == b""
    assert byte_index.is_special(256) and not byte_index.is_special(0)
    assert byte_index.encode("hé") == [104, 0xC3, 0xA9]
    # every token is a single byte, so no token extends another
    assert not byte_index.has_extension(b"a")
    assert byte_index.tokens_with_prefix(b"a") == [97]


def test_smol_index(smol: TokenIndex, smol_tokenizer: Any) -> None:
    assert smol.vocab_size == 49152
    assert smol.eos_ids == (smol_tokenizer.eos_token_id,) == (2,)
    ids = smol.encode('href="http:')
    assert ids == smol_tokenizer.encode('href="http:')
    assert smol.decode(ids) == b'href="http:'
    assert smol.token_bytes(smol_tokenizer.convert_tokens_to_ids("Ġworld")) == b" world"
    assert smol.token_bytes(smol.eos_id) == b""


def test_has_extension_matches_a_scan(smol: TokenIndex) -> None:
    for prefix in [b":", b" wor", b"http", b" ", b"zzqx", b"://", b"\n"]:
        texts = map(smol.token_bytes, smol.tokens_with_prefix(prefix))
        scan = any(len(t) > len(prefix) for t in texts)
        assert smol.has_extension(prefix) == scan, prefix
    assert smol.has_extension(b":") and not smol.has_extension(b"zzqx")


def test_index_is_memoised_per_tokenizer(smol_tokenizer: Any, smol: TokenIndex) -> None:
    assert TokenIndex.for_tokenizer(smol_tokenizer) is smol
    assert TokenIndex.bytes_level() is TokenIndex.bytes_level()
