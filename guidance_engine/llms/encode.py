"""Tokenize a structured prompt so that only role markup and template text make special tokens.

A variable's value or a model's output may contain the text of a special token (`<|im_end|>`);
tokenized naively it would become that token and close the turn (a prompt injection). Here the
prompt is split only at special-token text that lies inside trusted segments (markup, template);
every stretch between such points is tokenized as plain text in one piece, so tokenization at the
seams between template text and values is the same as for the flat text::

    >>> encoder = PromptEncoder(tokenizer)                        # SmolLM2
    >>> encoder.encode((Segment("<|im_start|>user\\n", "markup", "user"),
    ...                 Segment("<|im_end|>", "value", "user")))
    [1, 4093, 198, 44, 108, 306, 79, 486, 108, 46]   # the value is '<', '|', 'im', ...
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from guidance_engine.llms.base import Segment


class PromptEncoder:
    """Token ids for segments with a Hugging Face tokenizer (see the module docstring)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        added = {str(getattr(tok, "content", tok))
                 for tok in getattr(tokenizer, "added_tokens_decoder", {}).values()}
        added.update(str(t) for t in getattr(tokenizer, "all_special_tokens", ()))
        added.discard("")
        # Longest first, so `<|im_start|>` wins over any shorter token it contains.
        alternatives = sorted(added, key=len, reverse=True)
        self._special = re.compile("|".join(map(re.escape, alternatives))) if added else None
        self._prefix: list[int] | None = None

    def encode_text(self, text: str) -> list[int]:
        """All of `text` trusted: special-token text becomes special tokens (BOS added)."""
        return list(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def encode(self, segments: Sequence[Segment]) -> list[int]:
        """Token ids of the segments' text; untrusted text never yields a special token."""
        text = "".join(s.text for s in segments)
        if not self._untrusted_special(segments):
            return self.encode_text(text)  # the common case: same as the flat text
        ids = list(self.prefix)
        at = 0
        for start, end in self._trusted_specials(segments):
            ids += self._plain(text[at:start])
            ids += self.tokenizer.convert_tokens_to_ids([text[start:end]])
            at = end
        return ids + self._plain(text[at:])

    def encode_many(self, prompts: Sequence[Sequence[Segment]]) -> list[list[int]]:
        """`encode` for several prompts; one tokenizer call for those without untrusted
        special-token text."""
        plain = [i for i, p in enumerate(prompts) if not self._untrusted_special(p)]
        texts = ["".join(s.text for s in prompts[i]) for i in plain]
        batch = self.tokenizer(texts, add_special_tokens=True)["input_ids"] if texts else []
        out: dict[int, list[int]] = {i: list(ids) for i, ids in zip(plain, batch, strict=True)}
        return [out[i] if i in out else self.encode(p) for i, p in enumerate(prompts)]

    @property
    def prefix(self) -> list[int]:
        """What the tokenizer puts before any text (Gemma's `<bos>`; nothing for SmolLM2)."""
        if self._prefix is None:
            self._prefix = list(self.tokenizer("", add_special_tokens=True)["input_ids"])
        return self._prefix

    def _plain(self, text: str) -> list[int]:
        if not text:
            return []
        return list(self.tokenizer(text, add_special_tokens=False,
                                   split_special_tokens=True)["input_ids"])

    def _untrusted_special(self, segments: Sequence[Segment]) -> bool:
        if self._special is None:
            return False
        return any(not s.trusted and self._special.search(s.text) for s in segments)

    def _trusted_specials(self, segments: Sequence[Segment]) -> list[tuple[int, int]]:
        """Offsets of special-token text lying wholly inside one trusted segment."""
        assert self._special is not None
        spans: list[tuple[int, int]] = []
        offset = 0
        for segment in segments:
            if segment.trusted:
                spans += [(offset + m.start(), offset + m.end())
                          for m in self._special.finditer(segment.text)]
            offset += len(segment.text)
        return spans
