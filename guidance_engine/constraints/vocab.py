"""The token index: a tokenizer's vocabulary as bytes, wrapped for the constraint engine.

Memoised on the tokenizer object, so every `Matcher` and every healing plan of a model shares
one index. Two parts, built at different times::

    >>> index = TokenIndex.for_tokenizer(hf_tokenizer, store=Path("~/.cache/x/token-index"))
    >>> index.token_bytes(index.eos_id)     # the table: loaded from `store` in milliseconds
    b''
    >>> index.has_extension(b":")           # some longer token starts with ':' ('://')
    True
    >>> index.ll                            # the engine's tokenizer: built on first use

The table (each token's bytes, special flags, EOS ids, the byte-sorted order) is all that token
healing and an unconstrained gen need. It is stored in `store` keyed by the tokenizer's content
(see `index_store`), so only the first process that meets a tokenizer computes it. The engine's
tokenizer (`ll`, ~0.25 s on a 49k vocabulary; the build releases the GIL) is built from the
tokenizer's JSON (no copy of the Python tokenizer) when a constraint is compiled or `encode` is
called, or ahead of that on a background thread by `prepare()`, which a model load starts.

`TokenIndex.bytes_level()` is a 257-token vocabulary (one token per byte, then EOS) that needs no
model; `validate()` uses it to find unsatisfiable patterns, and tests use it to assert exact
transitions.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import hashlib
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import llguidance
import numpy as np

from guidance_engine.constraints.index_store import (
    VocabTable,
    load_table,
    save_table,
    table_key,
)

# Memoisation only (an index is a pure function of its tokenizer): entries die with the tokenizer.
_INDEX_CACHE: weakref.WeakKeyDictionary[Any, TokenIndex] = weakref.WeakKeyDictionary()
_INDEX_LOCK = threading.Lock()
COMPILED_CACHE_SIZE = 128
CHECKED_CACHE_SIZE = 1024


class TokenIndex:
    """A vocabulary: each token's bytes, which are special, the EOS ids, the engine's trie."""

    def __init__(
        self,
        table: VocabTable,
        engine: Callable[[], llguidance.LLTokenizer],
        name: str = "tokenizer",
    ) -> None:
        self.table = table
        self.name = name
        self.vocab_size: int = table.vocab_size
        self.eos_id: int = table.eos_id
        self.eos_ids: tuple[int, ...] = table.eos_ids
        self._special = table.special
        self._bytes = table.token_bytes
        # Texts in byte order let prefix queries answer with a binary search instead of a scan;
        # `_order[i]` is the id of `_sorted[i]` (equal texts of several ids sit side by side).
        self._order = np.asarray(table.order, dtype=np.int64)
        self._sorted = [self._bytes[i] for i in table.order]
        self._prefix_masks: dict[bytes, np.ndarray] = {}
        self._make_engine: Callable[[], llguidance.LLTokenizer] | None = engine
        self._ll: llguidance.LLTokenizer | None = None
        # Compiled grammars, least recently used first: a gen inside a loop compiles once.
        self._compiled: dict[str, llguidance.LLMatcher] = {}
        # Digests of the grammars `validate` passed, oldest first (a schema can be megabytes).
        self._checked: dict[bytes, None] = {}
        self._lock = threading.Lock()

    @staticmethod
    def for_tokenizer(hf_tokenizer: Any, store: Path | None = None) -> TokenIndex:
        """The (memoised) index of a Hugging Face fast tokenizer; with `store`, its table is
        loaded from (or saved to) that directory instead of being rebuilt in every process.

        >>> TokenIndex.for_tokenizer(tok) is TokenIndex.for_tokenizer(tok)
        True
        """
        with _INDEX_LOCK:
            index = _INDEX_CACHE.get(hf_tokenizer)
            if index is None:
                index = _build_index(hf_tokenizer, store)
                _INDEX_CACHE[hf_tokenizer] = index
            return index

    @staticmethod
    def bytes_level() -> TokenIndex:
        """A model-free vocabulary: token i < 256 is the byte i, token 256 is EOS.

        >>> TokenIndex.bytes_level().token_bytes(65)
        b'A'
        """
        return _byte_index()

    @property
    def ll(self) -> llguidance.LLTokenizer:
        """The engine's tokenizer (built on first use; constraints and `encode` need it)."""
        with self._lock:
            if self._ll is None:
                assert self._make_engine is not None
                ll = self._make_engine()
                if ll.vocab_size != self.vocab_size:
                    raise RuntimeError(
                        f"the engine's tokenizer has {ll.vocab_size} tokens but the stored "
                        f"table of {self.name!r} has {self.vocab_size}"
                    )
                self._ll, self._make_engine = ll, None
            return self._ll

    def prepare(self) -> None:
        """Build the engine's tokenizer on a background thread now, so the first constraint
        does not wait for it (a model load calls this while its weights load). The build
        releases the GIL; `ll` waits for it, and builds again itself if it failed."""
        if self._ll is None and self._make_engine is not None:
            threading.Thread(target=self._build_quietly, name="token-index", daemon=True).start()

    def _build_quietly(self) -> None:
        with contextlib.suppress(Exception):  # `ll` raises it again, where it is needed
            self.ll  # noqa: B018 - the property builds and keeps the engine's tokenizer

    def compile(self, grammar: str) -> llguidance.LLMatcher:
        """A fresh engine matcher for `grammar` (an engine grammar string), compiled at most once.

        Compiling costs milliseconds; copying a compiled matcher costs microseconds.
        """
        ll = self.ll
        with self._lock:
            pristine = self._compiled.pop(grammar, None)
            if pristine is None:
                pristine = _compile(ll, grammar)
            self._compiled[grammar] = pristine
            if len(self._compiled) > COMPILED_CACHE_SIZE:
                del self._compiled[next(iter(self._compiled))]
        return pristine.deep_copy()

    def clear_compiled(self) -> None:
        """Forget compiled and checked grammars (benchmarks use it to time a cold compile)."""
        with self._lock:
            self._compiled.clear()
            self._checked.clear()

    def checked(self, grammar: str) -> bool:
        """Whether `validate` already passed `grammar` on this vocabulary."""
        return _digest(grammar) in self._checked

    def mark_checked(self, grammar: str) -> None:
        with self._lock:
            self._checked[_digest(grammar)] = None
            if len(self._checked) > CHECKED_CACHE_SIZE:
                del self._checked[next(iter(self._checked))]

    # -- queries ---------------------------------------------------------------------------------

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes a token stands for (b"" for special tokens such as EOS)."""
        return self._bytes[token_id]

    def is_special(self, token_id: int) -> bool:
        return self._special[token_id]

    def decode(self, token_ids: Sequence[int]) -> bytes:
        """The bytes of a token sequence (special tokens contribute nothing)."""
        return b"".join(self._bytes[t] for t in token_ids)

    def has_extension(self, prefix: bytes) -> bool:
        """Whether some token's bytes start with `prefix` and are longer than it.

        Every longer string with that prefix sorts right after `prefix` itself, so the first
        entry greater than `prefix` decides.
        """
        i = bisect.bisect_right(self._sorted, prefix)
        return i < len(self._sorted) and self._sorted[i].startswith(prefix)

    def tokens_with_prefix(self, prefix: bytes) -> list[int]:
        """Ids of every non-special token whose bytes start with `prefix` (binary search)."""
        lo, hi = self._prefix_range(prefix)
        return sorted(self._order[lo:hi].tolist())

    def has_token_with_prefix(self, prefix: bytes) -> bool:
        """Whether some non-special token's bytes start with `prefix`."""
        lo, hi = self._prefix_range(prefix)
        return hi > lo

    def _prefix_range(self, prefix: bytes) -> tuple[int, int]:
        """The slice of `_sorted` whose texts start with `prefix` (two binary searches)."""
        lo = bisect.bisect_left(self._sorted, prefix)
        end = _successor(prefix)
        hi = len(self._sorted) if end is None else bisect.bisect_left(self._sorted, end, lo)
        return lo, hi

    def prefix_mask(self, prefix: bytes) -> np.ndarray:
        """Bool [vocab_size]: the tokens whose bytes start with `prefix` (cached per prefix)."""
        mask = self._prefix_masks.get(prefix)
        if mask is None:
            lo, hi = self._prefix_range(prefix)
            mask = np.zeros(self.vocab_size, dtype=np.bool_)
            mask[self._order[lo:hi]] = True
            if len(self._prefix_masks) >= 256:
                self._prefix_masks.clear()
            self._prefix_masks[prefix] = mask
        return mask

    def encode(self, text: str | bytes) -> list[int]:
        """The tokenizer's own (canonical) tokenization of `text`."""
        data = text.encode("utf-8") if isinstance(text, str) else text
        return list(self.ll.tokenize_bytes(data))

    def __repr__(self) -> str:
        return f"TokenIndex({self.name!r}, vocab_size={self.vocab_size}, eos_id={self.eos_id})"


def unpack_mask(bitmask: Any, size: int) -> np.ndarray:
    """The engine's token bitmask (bytes or an int32 array, bit i of the little-endian words
    set when token i is allowed) as a uint8 0/1 array of the first `size` tokens.

    >>> unpack_mask(bytes([0b101]), 3).tolist()
    [1, 0, 1]
    """
    return np.unpackbits(np.frombuffer(bitmask, dtype=np.uint8), bitorder="little")[:size]


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _compile(ll: llguidance.LLTokenizer, grammar: str) -> llguidance.LLMatcher:
    """The engine's compile of `grammar` (the one place it happens: tests count calls here)."""
    return llguidance.LLMatcher(ll, grammar, log_level=0)


def _successor(prefix: bytes) -> bytes | None:
    """The smallest byte string above every string that starts with `prefix` (None: no bound).

    >>> _successor(b"ab"), _successor(b"a" + bytes([255])), _successor(bytes([255]))
    (b'ac', b'b', None)
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _build_index(hf_tokenizer: Any, store: Path | None) -> TokenIndex:
    """The index of a fast tokenizer: its table from `store` when there, else from the engine."""
    name = str(getattr(hf_tokenizer, "name_or_path", "") or type(hf_tokenizer).__name__)
    # The JSON is what the table is computed from: it keys the stored table and builds the
    # engine's tokenizer later. Kept as UTF-8 bytes (3.5 MB for SmolLM2, 33 MB for Gemma3) and
    # dropped once the engine is built; holding the tokenizer itself would keep it alive through
    # this memo.
    data = _engine_json(hf_tokenizer).encode("utf-8")
    eos = hf_tokenizer.eos_token_id

    def engine() -> llguidance.LLTokenizer:
        return llguidance.LLTokenizer(data.decode("utf-8"), eos_token=eos)

    key = table_key(data, eos) if store is not None else ""
    table = load_table(store, key) if store is not None else None
    if table is None:
        ll = engine()
        table = VocabTable.from_engine(ll)
        if store is not None:
            # A read-only or full cache: the next process rebuilds, nothing breaks.
            with contextlib.suppress(OSError):
                save_table(store, key, table)
        return TokenIndex(table, lambda: ll, name)
    return TokenIndex(table, engine, name)


def _engine_json(hf_tokenizer: Any) -> str:
    """The tokenizer's JSON as the engine needs it: padding and truncation off.

    `llguidance.hf.from_tokenizer` copies the Rust tokenizer first (~0.1 s on SmolLM2) only to
    switch those off; when both are off already, the JSON can be taken as is.
    """
    backend = getattr(hf_tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ValueError(
            f"the constraint engine needs a fast (Rust-backed) Hugging Face tokenizer; found "
            f"{type(hf_tokenizer).__name__}"
        )
    if backend.padding is not None or backend.truncation is not None:
        backend = copy.copy(backend)
        backend.no_padding()
        backend.no_truncation()
    return str(backend.to_str())


class _ByteTokenizer:
    """The minimal tokenizer protocol llguidance's `TokenizerWrapper` reads: one token per byte."""

    eos_token_id = 256
    bos_token_id = None
    tokens: Sequence[bytes] = [bytes([i]) for i in range(256)] + [b"<eos>"]
    special_token_ids: Sequence[int] = [256]

    def __call__(self, data: bytes) -> list[int]:
        return list(data)


_BYTE_INDEX: list[TokenIndex] = []  # built lazily, once: the byte vocabulary never changes


def _byte_index() -> TokenIndex:
    with _INDEX_LOCK:
        if not _BYTE_INDEX:
            ll = llguidance.LLTokenizer(llguidance.TokenizerWrapper(_ByteTokenizer()))
            _BYTE_INDEX.append(TokenIndex(VocabTable.from_engine(ll), lambda: ll, "bytes"))
        return _BYTE_INDEX[0]
