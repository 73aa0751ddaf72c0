"""TokenIndex: token bytes, special tokens, prefix queries, memoisation."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

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


def test_prepare_builds_the_engine_tokenizer_on_a_background_thread(
    byte_index: TokenIndex,
) -> None:
    built = threading.Event()
    threads: list[str] = []

    def engine() -> Any:
        threads.append(threading.current_thread().name)
        built.set()
        return byte_index.ll

    index = TokenIndex(byte_index.table, engine, "bytes")
    index.prepare()
    assert built.wait(30)
    assert index.ll is byte_index.ll  # waits for the build; never builds twice
    assert threads == ["token-index"]
    index.prepare()  # already built: nothing to start
    assert threads == ["token-index"]


def test_a_failed_background_build_is_raised_where_the_tokenizer_is_needed(
    byte_index: TokenIndex,
) -> None:
    calls: list[str] = []

    def engine() -> Any:
        calls.append(threading.current_thread().name)
        raise OSError("tokenizer JSON unreadable")

    index = TokenIndex(byte_index.table, engine, "bytes")
    index.prepare()
    for _ in range(300):  # the background attempt fails quietly
        if calls:
            break
        time.sleep(0.01)
    with pytest.raises(OSError, match="tokenizer JSON unreadable"):
        index.ll  # noqa: B018
    assert calls[0] == "token-index" and len(calls) == 2
