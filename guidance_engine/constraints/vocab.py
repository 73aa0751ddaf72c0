"""The token index: a tokenizer's vocabulary as bytes, wrapped for the constraint engine.

Built once per tokenizer (setting up the engine's token trie costs ~0.3 s on a 49k vocabulary)
and memoised on the tokenizer object, so every `Matcher` and every healing plan of a model shares
one index::

    >>> index = TokenIndex.for_tokenizer(hf_tokenizer)     # SmolLM2: 49152 tokens
    >>> index.token_bytes(index.eos_id)                     # special tokens have no text
    b''
    >>> index.has_extension(b":")       # some longer token starts with ':' ('://')
    True

`TokenIndex.bytes_level()` is a 257-token vocabulary (one token per byte, then EOS) that needs no
model; `validate()` uses it to find unsatisfiable patterns, and tests use it to assert exact
transitions.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import llguidance
import llguidance.hf
import numpy as np

# Memoisation only (an index is a pure function of its tokenizer): entries die with the tokenizer.
_INDEX_CACHE: weakref.WeakKeyDictionary[Any, TokenIndex] = weakref.WeakKeyDictionary()
_INDEX_LOCK = threading.Lock()
COMPILED_CACHE_SIZE = 128


class TokenIndex:
    """A vocabulary: each token's bytes, which are special, the EOS ids, the engine's trie."""

    def __init__(self, ll_tokenizer: llguidance.LLTokenizer, name: str = "tokenizer") -> None:
        self.ll = ll_tokenizer
        self.name = name
        self.vocab_size: int = ll_tokenizer.vocab_size
        self.eos_id: int = ll_tokenizer.eos_token
        self.eos_ids: tuple[int, ...] = tuple(ll_tokenizer.eos_tokens)
        self._special = [ll_tokenizer.is_special_token(i) for i in range(self.vocab_size)]
        self._bytes: list[bytes] = [
            b"" if self._special[i] else ll_tokenizer.decode_bytes([i])
            for i in range(self.vocab_size)
        ]
        # Sorted texts let `has_extension` answer with one binary search instead of a scan.
        self._sorted = sorted({b for b in self._bytes if b})
        self._prefix_masks: dict[bytes, np.ndarray] = {}
        self._ids_by_bytes: dict[bytes, list[int]] | None = None  # built on first use
        # Compiled grammars, least recently used first: a gen inside a loop compiles once.
        self._compiled: dict[str, llguidance.LLMatcher] = {}
        self._lock = threading.Lock()

    @staticmethod
    def for_tokenizer(hf_tokenizer: Any) -> TokenIndex:
        """The (cached) index of a Hugging Face fast tokenizer.

        >>> TokenIndex.for_tokenizer(tok) is TokenIndex.for_tokenizer(tok)
        True
        """
        with _INDEX_LOCK:
            index = _INDEX_CACHE.get(hf_tokenizer)
            if index is None:
                ll = llguidance.hf.from_tokenizer(hf_tokenizer)
                name = str(getattr(hf_tokenizer, "name_or_path", "") or type(hf_tokenizer).__name__)
                index = TokenIndex(ll, name)
                _INDEX_CACHE[hf_tokenizer] = index
            return index

    @staticmethod
    def bytes_level() -> TokenIndex:
        """A model-free vocabulary: token i < 256 is the byte i, token 256 is EOS.

        >>> TokenIndex.bytes_level().token_bytes(65)
        b'A'
        """
        return _byte_index()

    def compile(self, grammar: str) -> llguidance.LLMatcher:
        """A fresh engine matcher for `grammar` (an engine grammar string), compiled at most once.

        Compiling costs milliseconds; copying a compiled matcher costs microseconds.
        """
        with self._lock:
            pristine = self._compiled.pop(grammar, None)
            if pristine is None:
                pristine = llguidance.LLMatcher(self.ll, grammar, log_level=0)
            self._compiled[grammar] = pristine
            if len(self._compiled) > COMPILED_CACHE_SIZE:
                del self._compiled[next(iter(self._compiled))]
        return pristine.deep_copy()

    def clear_compiled(self) -> None:
        """Forget compiled grammars (benchmarks use it to time a cold compile)."""
        with self._lock:
            self._compiled.clear()

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
        if self._ids_by_bytes is None:
            ids: dict[bytes, list[int]] = {}
            for i, b in enumerate(self._bytes):
                if b:
                    ids.setdefault(b, []).append(i)
            self._ids_by_bytes = ids
        out: list[int] = []
        at = bisect.bisect_left(self._sorted, prefix)
        while at < len(self._sorted) and self._sorted[at].startswith(prefix):
            out.extend(self._ids_by_bytes[self._sorted[at]])
            at += 1
        return sorted(out)

    def prefix_mask(self, prefix: bytes) -> np.ndarray:
        """Bool [vocab_size]: the tokens whose bytes start with `prefix` (cached per prefix)."""
        mask = self._prefix_masks.get(prefix)
        if mask is None:
            mask = np.zeros(self.vocab_size, dtype=np.bool_)
            mask[self.tokens_with_prefix(prefix)] = True
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
            _BYTE_INDEX.append(TokenIndex(ll, "bytes"))
        return _BYTE_INDEX[0]
