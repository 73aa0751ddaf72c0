"""The model stage of the Transformers backend: a local Hugging Face causal LM and what is done
with it directly (no session state).

`TransformersModel` loads the model and tokenizer, knows its chat markup and end tokens,
tokenizes prompts and select options, checks the context window, and runs the forward passes:
a prefill on top of a KV cache, a padded batch, and the tree-masked pass that scores a select's
option trie::

    logits = llm.extend(kv, llm.encode("The capital of France is"))   # [1, V]

`transformers.py` makes it the `Transformers` backend (sessions); the decode loop is
`transformers_decode.py`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from guidance_engine.constraints import TokenIndex
from guidance_engine.errors import ModelLoadError
from guidance_engine.llms.base import (
    LOGITS_PROCESSOR_KWARGS,
    SelectRequest,
)
from guidance_engine.llms.capabilities import Capabilities
from guidance_engine.llms.chat import RoleMarkup
from guidance_engine.llms.classic import ClassicLLM
from guidance_engine.llms.encode import PromptEncoder
from guidance_engine.llms.few_rows import few_row_products, install
from guidance_engine.llms.kv import KVCache, PrefixCache
from guidance_engine.llms.local import (
    TokenizerRoles,
    context_budget,
    option_sequences,
    token_index,
)
from guidance_engine.llms.model_store import load_model, resolve_source
from guidance_engine.llms.sampling import (
    OptionTrie,
    path_scores,
)

DEFAULT_MAX_TOKENS = 500  # the classic guidance default for gen


class TransformersModel(TokenizerRoles, ClassicLLM):
    """A local Hugging Face causal LM and its tokenizer; `Transformers` (transformers.py) adds
    the sessions, and its docstring says what the arguments mean."""

    sampling_kwargs = LOGITS_PROCESSOR_KWARGS | {"fast_forward", "lookup_tokens"}

    def __init__(
        self,
        model: Any = None,
        tokenizer: Any = None,
        device: str | None = None,
        dtype: Any = None,
        token_healing: bool = True,
        acceleration: bool = True,
        caching: bool | None = None,
        chat_template: str | None = None,
        prefix_cache_bytes: int = 512 * 2**20,
        fast_forward: bool = True,
        few_row_products: bool = True,
        lookup_tokens: int = 0,
    ) -> None:
        self.model, self.tokenizer = _load(model, tokenizer, device, dtype)
        self.device = next(self.model.parameters()).device
        self.few_row_products = few_row_products
        if few_row_products:
            install(self.model)  # cheaper products for passes of 1-8 tokens (few_rows.py)
        self.token_healing = token_healing
        self.acceleration = acceleration
        self.fast_forward = fast_forward
        self.lookup_tokens = lookup_tokens  # drafts per pass from the context (lookup.py)
        cross_run = acceleration and caching is not False
        self.caching = caching is True  # generation cache (llms/caching.py) only when asked
        self.prefix_cache = PrefixCache(prefix_cache_bytes if cross_run else 0)
        self._index: TokenIndex | None = None
        self.context_length = int(getattr(self.model.config, "max_position_embeddings", 0) or
                                  2**31)
        self.pad_id = int(self.tokenizer.pad_token_id or self.tokenizer.eos_token_id or 0)
        self._chat_template = chat_template or getattr(self.tokenizer, "chat_template", None)
        self._markup: RoleMarkup | None = None
        self._end_ids: set[int] | None = None
        self._encoder: PromptEncoder | None = None
        self.forward_passes = 0
        self.forward_seconds = 0.0  # wall time inside model forward passes (benchmarks)
        self.fed_tokens = 0  # token positions run through the model (padding included)
        # Everything runs in-process on the model's logits: any number of stops and samples,
        # full distributions, every constraint kind on the engine's own automaton.
        self.capabilities = Capabilities(
            "Transformers", roles=self._chat_template is not None, kv_reuse=acceleration)

    # -- tokens --------------------------------------------------------------------------------

    @property
    def encoder(self) -> PromptEncoder:
        """Tokenizes structured prompts: values and model output never become special tokens."""
        if self._encoder is None:
            self._encoder = PromptEncoder(self.tokenizer)
        return self._encoder

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def markup_ids(self, text: str) -> list[int]:
        return self.encode(text)

    def option_sequences(self, request: SelectRequest, healing: bool) -> list[list[int]]:
        """Token sequences of prompt + option (+ suffix) for every option (`local.py`)."""
        return option_sequences(self.encoder, self.tokenizer, request, healing)

    def check_context(self, prompt_tokens: int, max_tokens: int | None) -> int:
        """The number of tokens a gen may produce; raises when the context cannot hold it."""
        return context_budget(prompt_tokens, max_tokens, self.context_length, DEFAULT_MAX_TOKENS,
                              "the model's context window", "max_position_embeddings")

    # -- forward passes ------------------------------------------------------------------------

    def forward(
        self,
        kv: KVCache,
        ids: torch.Tensor,
        attn: torch.Tensor | None = None,
        pos: torch.Tensor | None = None,
        keep: int = 1,
    ) -> torch.Tensor:
        """Run `ids` [B, S] on top of `kv`; the next-token logits [B, V] after the last one
        (with `keep` > 1: [B, keep, V] after each of the last `keep`)."""
        kwargs: dict[str, Any] = {}
        if attn is not None:
            kwargs["attention_mask"] = attn.to(self.device)
        if pos is not None:
            kwargs["position_ids"] = pos.to(self.device)
        start = time.perf_counter()
        with torch.inference_mode(), self._products():
            out = self.model(input_ids=ids.to(self.device), cache=kv.cache,
                             use_cache=True, logits_to_keep=keep, **kwargs)
        logits = out.logits[:, -1, :].float() if keep == 1 else out.logits[:, -keep:, :].float()
        self.forward_seconds += time.perf_counter() - start
        self.forward_passes += 1
        self.fed_tokens += int(ids.numel())
        return logits

    def _products(self) -> AbstractContextManager[None]:
        return few_row_products() if self.few_row_products else nullcontext()

    def extend(self, kv: KVCache, ids: Sequence[int], keep: int = 1) -> torch.Tensor:
        """Extend a batch-1 cache by `ids` in one prefill; the logits [keep, V] after the last
        `keep` of them."""
        tensor = torch.tensor([list(ids)], dtype=torch.long)
        return self.forward(kv, tensor) if keep == 1 else self.forward(kv, tensor, keep=keep)[0]

    def score_trie(
        self, kv: KVCache, seqs: list[list[int]], start: int, root: int
    ) -> tuple[torch.Tensor, list[list[int]], int]:
        """Log-probability of each `seqs[i][root + 1:]` given `seqs[i][:root + 1]`, in one pass.

        `kv` holds the first `start` shared tokens. The rest of the shared prefix (the stem,
        ending at `root`) and the options' tokens after it form a trie, fed as one sequence;
        each node attends to the cache and its own ancestors only, at position start + depth.
        Returns the scores, each option's trie nodes (node i sits at cache position
        start + i) and the number of tokens fed.
        """
        trie = OptionTrie(seqs[0][start : root + 1])
        paths = [trie.insert(seq[root + 1:]) for seq in seqs]
        n = len(trie.tokens)
        allowed = trie.ancestor_matrix()  # [N, N] bool
        mask = torch.zeros(1, 1, n, start + n, dtype=self.model.dtype)
        mask[0, 0, :, start:] = torch.where(allowed, 0.0, torch.finfo(self.model.dtype).min)
        pos = torch.tensor([[start + d for d in trie.depth]], dtype=torch.long)
        internal = sorted({trie.parent[node] for path in paths for node in path})
        began = time.perf_counter()
        with torch.inference_mode(), self._products():
            out = self.model(
                input_ids=torch.tensor([trie.tokens], device=self.device),
                cache=kv.cache, use_cache=True,
                attention_mask=mask.to(self.device), position_ids=pos.to(self.device),
                logits_to_keep=torch.tensor(internal, dtype=torch.long, device=self.device),
            )
            scores = path_scores(out.logits[0], internal, trie, paths)
        self.forward_seconds += time.perf_counter() - began
        self.forward_passes += 1
        self.fed_tokens += n
        return scores, paths, n

def _load(model: Any, tokenizer: Any, device: str | None, dtype: Any) -> tuple[Any, Any]:
    if model is None or isinstance(model, str) or hasattr(model, "__fspath__"):
        resolve_source(model)  # clear errors for bad paths before importing anything heavy
        # The constraint engine's tokenizer builds (GIL released) while the weights load.
        return load_model(model, device=device, dtype=dtype,
                          on_tokenizer=lambda tok: token_index(tok).prepare())
    if tokenizer is None:
        raise ModelLoadError(
            "Transformers(model=<model object>) needs tokenizer=<its tokenizer> as well"
        )
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer
