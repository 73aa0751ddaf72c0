"""The decode loop of the Transformers backend: rows, batches and the per-token steps.

A `Row` is one sequence being generated (a sample of a request, or one branch of a parallel
each): its tokens and, from `sample_state.py`, its text, stop and chunks; a `Batch` is the rows
decoded together on one KV cache. `Decoder(model).decode(batch, logits)` runs the loop until
every row finishes, as named steps: mask, sample, commit (with fast-forward) and extend::

    Decoder(llm).decode(Batch(kv, rows), first_logits)   # rows[i].text, .finish, .ids

On the session's own cache (one row) each pass may also feed drafts, tokens guessed from the
context (`lookup.py`), and keep the logits after each. The loop itself is unchanged: it still
samples one token at a time from the true distribution of its position, and never rolls back
the matcher or the text. When the sampled token is the next draft, the logits after it are at
hand and no pass is needed; at the first other token the cache drops the drafts not taken.
Accepting a deterministic draft exactly when the sample equals it leaves every distribution,
and a seeded generator's draws, as they are without drafts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import torch

from guidance_engine.llms.base import TokenLogprob
from guidance_engine.llms.kv import KVCache
from guidance_engine.llms.local import GenerationCancelled as GenerationCancelled
from guidance_engine.llms.lookup import NgramDrafter
from guidance_engine.llms.sample_state import SampleState
from guidance_engine.llms.sampling import (
    Processors,
    choose,
    choose_processed,
    make_generator,
    token_logprobs,
)
from guidance_engine.llms.transformers_model import TransformersModel

# ---------------------------------------------------------------------------------------------
# Per-row decoding state


@dataclass
class Row(SampleState):
    """One sequence being generated: a sample of a request, or one branch of a parallel each
    (its text, stop and chunks are `SampleState`'s)."""

    prompt_ids: list[int] = field(default_factory=list)  # after healing
    healed_id: int | None = None  # the one prompt token healing backed up, if exactly one
    processors: Processors = field(default_factory=Processors)  # sampling keywords of the gen
    fed: int = 0  # how many of `ids` have been run through the model
    sampled: int = 0
    forced: int = 0
    drafted: int = 0  # tokens fed as drafts (lookup.py)
    accepted: int = 0  # drafts then sampled or forced (fed ahead: no pass of their own)
    drafter: NgramDrafter | None = None  # built at the row's first draft


# ---------------------------------------------------------------------------------------------
# A decoding batch: the cache rows being extended and, for batches, their masks and positions


@dataclass
class Batch:
    """Rows decoded together. `attn`/`pos` are None when decoding on the session's own cache.

    Batched rows share a prefix of `base` tokens and then have suffixes of different lengths,
    left-padded to a common width: `attn` [B, seen] masks the padding, `pos` [B] is each row's
    next position id (its true length so far).
    """

    kv: KVCache
    rows: list[Row]
    attn: torch.Tensor | None = None
    pos: torch.Tensor | None = None
    last_logits: torch.Tensor | None = None  # [V] after the last fed token (batch of one)
    cancel: threading.Event | None = None  # set when the session closes: stop between passes
    # (token, logits [V] after it): the healed token, fed with the prompt on the chance that the
    # model re-chooses it; its cache entry is kept or dropped at the first sample.
    healed: tuple[int, torch.Tensor] | None = None
    # (token, logits [1, V] after it): drafts in the cache past the row's fed tokens, in order
    drafts: list[tuple[int, torch.Tensor]] = field(default_factory=list)


def padded_suffixes(
    suffixes: list[list[int]], base: int, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The rows' prompt tokens after a shared prefix of `base` tokens, left-padded to one width:
    ids [B, W], attention mask [B, base + W] (0 on padding) and position ids [B, W]."""
    width = max(len(suffix) for suffix in suffixes)
    ids = torch.full((len(suffixes), width), pad_id, dtype=torch.long)
    attn = torch.zeros(len(suffixes), base + width, dtype=torch.long)
    attn[:, :base] = 1
    pos = torch.zeros(len(suffixes), width, dtype=torch.long)
    for i, suffix in enumerate(suffixes):
        start = width - len(suffix)
        ids[i, start:] = torch.tensor(suffix, dtype=torch.long)
        attn[i, base + start:] = 1
        pos[i, start:] = torch.arange(base, base + len(suffix))
    return ids, attn, pos


# ---------------------------------------------------------------------------------------------
# The loop


class Decoder:
    """The per-token loop of one model, as named steps: mask (`_mask_step`), sample
    (`_sample_step`), commit (`_commit_step`, with fast-forward of tokens a constraint forces)
    and extend (`_extend_step`)."""

    def __init__(self, model: TransformersModel) -> None:
        self.model = model

    def decode(self, batch: Batch, logits: torch.Tensor) -> None:
        """Generate on `batch` until every row finishes; `logits` [B, V] follow each prompt."""
        try:
            self._loop(batch, logits)
        finally:
            if batch.drafts:  # stopped early (cancelled, a failure): the cache ends at `fed`
                self._drop_drafts(batch)

    def _loop(self, batch: Batch, logits: torch.Tensor) -> None:
        generator = make_generator(batch.rows[0].request.seed, self.model.device)
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
            if batch.drafts:
                feeds[0], logits = self._accept_step(batch, live[0], feeds[0], logits)
            keep = [i for i, row in enumerate(live) if row.finish is None]
            if not keep:
                batch.last_logits = logits[0] if len(batch.rows) == 1 else None
                return
            if batch.attn is None and not feeds[0]:
                continue  # the healed token was re-chosen or drafted: its logits are at hand
            logits = self._extend_step(batch, keep, [feeds[i] for i in keep])

    @staticmethod
    def _settle_healed(
        batch: Batch, row: Row, feed: list[int], logits: torch.Tensor
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

    @staticmethod
    def _accept_step(
        batch: Batch, row: Row, feed: list[int], logits: torch.Tensor
    ) -> tuple[list[int], torch.Tensor]:
        """Committed tokens equal to the pending drafts are in the cache already: count them
        fed and take the logits after the last; drop the drafts from the first other token on
        (all that remain once the row finished). Returns what is left to feed, and the logits
        the next token is sampled from."""
        drafts = batch.drafts
        same = 0
        while same < min(len(feed), len(drafts)) and feed[same] == drafts[same][0]:
            same += 1
        if same:
            row.fed += same
            row.accepted += same
            logits = drafts[same - 1][1]
        batch.drafts = drafts[same:]
        if batch.drafts and (same < len(feed) or row.finish is not None):
            Decoder._drop_drafts(batch)
        return feed[same:], logits

    @staticmethod
    def _drop_drafts(batch: Batch) -> None:
        batch.kv.crop(batch.kv.length - len(batch.drafts))
        batch.drafts = []

    def _mask_step(self, rows: list[Row], logits: torch.Tensor) -> torch.Tensor:
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
        self, rows: list[Row], logits: torch.Tensor, generator: torch.Generator | None
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
        self, rows: list[Row], tokens: list[int], logits: torch.Tensor, fast_forward: bool
    ) -> list[list[int]]:
        """Append each row's token; return the tokens fast-forward forces after it."""
        forced: list[list[int]] = []
        for i, (row, token) in enumerate(zip(rows, tokens, strict=True)):
            healing_only = not row.ids and self.model.index.token_bytes(token) == row.heal != b""
            if row.request.logprobs is not None and not healing_only:
                # a token that only re-produces the healed prompt text is not part of the value
                self._record_logprob(row, logits[i : i + 1], token)
            row.sampled += 1
            self._append(row, token)
            forced.append(self._fast_forward(row) if fast_forward else [])
        return forced

    def _fast_forward(self, row: Row) -> list[int]:
        """Tokens the constraint allows as the only continuation, committed now, fed later."""
        if row.matcher is None or row.finish is not None:
            return []
        if not row.request.extra.get("fast_forward", self.model.fast_forward):
            return []
        out: list[int] = []
        for token in list(row.matcher.forced_tokens()):
            if row.finish is not None:
                break
            row.forced += 1
            self._append(row, int(token), forced=True)
            out.append(int(token))
        return out

    def _append(self, row: Row, token: int, forced: bool = False) -> None:
        model = self.model
        row.append(token, model.index.token_bytes(token), token in model.end_ids, forced)

    def _record_logprob(self, row: Row, logits: torch.Tensor, token: int) -> None:
        top = row.request.logprobs or 0
        value, alts = token_logprobs(logits, torch.tensor([token], device=logits.device), top)[0]
        row.logprobs.append(TokenLogprob(
            self.model.tokenizer.decode([token]), value,
            tuple((self.model.tokenizer.decode([t]), lp) for t, lp in alts),
        ))

    def _extend_step(self, batch: Batch, keep: list[int], feeds: list[list[int]]) -> torch.Tensor:
        """Feed each surviving row's new tokens; drop finished rows from a batched cache."""
        live = [row for row in batch.rows if row.finish is None]
        for row, feed in zip(live, feeds, strict=True):
            row.fed += len(feed)
        if batch.attn is None or batch.pos is None:
            return self._extend_own(batch, live[0], feeds[0])
        if len(keep) < batch.attn.shape[0]:
            batch.kv.select_rows(keep)
            batch.attn, batch.pos = batch.attn[keep], batch.pos[keep]
        b = len(keep)
        ids = torch.tensor([f[0] for f in feeds], dtype=torch.long).view(b, 1)
        batch.attn = torch.cat([batch.attn, torch.ones(b, 1, dtype=torch.long)], dim=1)
        logits = self.model.forward(batch.kv, ids, batch.attn, batch.pos.view(b, 1))
        batch.pos = batch.pos + 1
        return logits

    def _extend_own(self, batch: Batch, row: Row, feed: list[int]) -> torch.Tensor:
        """Feed one row's tokens on the session's cache, with drafts after them when the
        context offers some; the logits [1, V] after `feed` (those after each draft wait in
        `batch.drafts`)."""
        drafts = self._drafts(row)
        if not drafts:
            return self.model.extend(batch.kv, feed)
        logits = self.model.extend(batch.kv, [*feed, *drafts], keep=1 + len(drafts))
        row.drafted += len(drafts)
        batch.drafts = [(token, logits[i + 1 : i + 2]) for i, token in enumerate(drafts)]
        return logits[:1]

    def _drafts(self, row: Row) -> list[int]:
        """Up to `lookup_tokens` drafts from the row's context (prompt and committed tokens);
        none that could only follow the row's last allowed token, and, in a constrained value,
        none from the first one the constraint refuses."""
        wanted = row.request.extra.get("lookup_tokens", self.model.lookup_tokens)
        budget = min(int(wanted or 0), row.max_tokens - len(row.ids) - 1)
        if budget <= 0:
            return []
        if row.drafter is None:
            row.drafter = NgramDrafter()
            row.drafter.extend(row.prompt_ids)
        row.drafter.extend(row.ids[len(row.drafter) - len(row.prompt_ids):])
        drafts = row.drafter.propose(budget)
        if drafts and row.matcher is not None and row.constrained:
            # a draft the constraint refuses could never be sampled: do not feed it
            drafts = drafts[: row.matcher.valid_prefix(drafts)]
        return drafts
