"""The matcher: one gen's constraint as a state machine over tokens (mask, consume, fast-forward).

One `Matcher` per generated sample. The decoding loop asks it for the mask of allowed tokens,
samples, and commits the token; when the constraint forces a continuation it feeds
`forced_tokens()` as one prefill instead of sampling them::

    matcher = Matcher(ConstraintSpec(pattern=r"[0-9]{3}-[0-9]{4}", stop=("\\n",)), index)
    while not matcher.is_finished():
        forced = matcher.forced_tokens()          # fast-forward: no sampling needed
        if forced:
            feed(forced); matcher.consume_all(forced); continue
        logits = model_step()                      # [vocab] float
        matcher.apply_mask(logits)                 # disallowed tokens -> -inf
        token = sample(logits)
        if token in index.eos_ids: break           # only offered when is_accepting()
        matcher.consume(token)
    matcher.result()   # MatchResult(value='555-1234', stop_text='\\n', complete=True)
"""

from __future__ import annotations

from dataclasses import dataclass

import llguidance
import numpy as np
import torch

from guidance_engine.constraints.spec import ConstraintSpec, engine_grammar, validate
from guidance_engine.constraints.vocab import TokenIndex, unpack_mask
from guidance_engine.errors import ConstraintError, IncompleteOutputError, Span

_NUMPY_FLOATS = (torch.float32, torch.float64, torch.float16)  # bfloat16 has no numpy twin


@dataclass(frozen=True)
class MatchResult:
    """The generated text split into its parts (healing prefix removed)."""

    value: str  # what the gen captures
    stop_text: str  # the stop string / stop_regex match that ended it, or ""
    complete: bool  # the value fully satisfies the constraint


class Matcher:
    """Token-level state of one constrained generation over `index`'s vocabulary."""

    def __init__(self, spec: ConstraintSpec, index: TokenIndex, *, check: bool = True) -> None:
        if check:
            validate(spec, index)
        self.spec = spec
        self.index = index
        self._tokens: list[int] = []
        self._prefix = spec.healing_prefix.encode("utf-8")
        # Healing alone (no constraint) needs no engine while the healed text is being
        # reproduced: the first token must start with the whole prefix, a table lookup. The
        # engine is compiled only if something else is asked of it (see `_engine`).
        self._lazy = (bool(self._prefix) and not spec.constrained
                      and index.has_token_with_prefix(self._prefix))
        self._engine_state: llguidance.LLMatcher | None = None
        if not self._lazy and self._engine.is_error():
            raise ConstraintError(f"{spec.describe()} cannot be used: {self._engine.get_error()}")
        # [words] int32 bit mask the engine writes into; bit i of word j is token 32*j + i.
        # (numpy, not torch: a torch allocation costs ~0.1 ms when other work holds the cores)
        self._bits = np.zeros((index.vocab_size + 31) // 32, dtype=np.int32)
        self.forced_count = 0  # tokens committed through consume_all(forced_tokens())

    @property
    def _engine(self) -> llguidance.LLMatcher:
        """The engine's matcher, compiled on first use and caught up with committed tokens."""
        if self._engine_state is None:
            engine = self.index.compile(engine_grammar(self.spec))
            for token in self._tokens:
                if not engine.consume_token(token):
                    raise RuntimeError(f"the engine rejects committed token {token}")
            self._engine_state = engine
        return self._engine_state

    def _healing_step(self) -> bool:
        """Healing alone, first token: the mask is the tokens starting with the healed text."""
        return self._lazy and not self._tokens

    # -- masks -----------------------------------------------------------------------------------

    def fill_bitmask(self, bitmask: torch.Tensor) -> None:
        """Write the allowed-token bit mask into `bitmask` ([(vocab+31)//32] int32, CPU)."""
        assert bitmask.dtype == torch.int32 and bitmask.is_contiguous() and not bitmask.is_cuda
        self._engine.unsafe_compute_mask_ptr(bitmask.data_ptr(), bitmask.numel() * 4)

    def mask(self, size: int | None = None) -> torch.Tensor:
        """Allowed tokens as a bool tensor [size] (default: the vocab; extra ids are False)."""
        return torch.from_numpy(self._allowed(size))

    def apply_mask(self, logits: torch.Tensor) -> torch.Tensor:
        """Set disallowed tokens' logits to -inf in place; `logits` is [vocab] or [1, vocab]."""
        allowed = self._allowed(logits.shape[-1])
        numpy_ok = logits.dtype in _NUMPY_FLOATS and not logits.requires_grad
        if numpy_ok and logits.device.type == "cpu" and logits.is_contiguous():
            # numpy runs this single-threaded: torch's intra-op threads would wait on each
            # other at every step when the cores are busy (measured: 30 ms instead of 30 us).
            np.copyto(logits.numpy(), -np.inf, where=~allowed)
        else:
            logits.masked_fill_(~torch.from_numpy(allowed).to(logits.device), float("-inf"))
        return logits

    def _allowed(self, size: int | None) -> np.ndarray:
        """The mask as a fresh numpy bool array [size], built without torch ops (see above)."""
        vocab = self.index.vocab_size
        if self._healing_step():
            # What the engine would allow ("prefix" then any text), narrowed as below.
            bits = self.index.prefix_mask(self._prefix).view(np.uint8)
        else:
            self._engine.unsafe_compute_mask_ptr(self._bits.ctypes.data, self._bits.nbytes)
            bits = unpack_mask(self._bits, vocab)
        if self._prefix and not self._tokens:
            # As in 0.0.64, the first token must start with the whole healed text: the grammar
            # alone would also let the model spell it in shorter pieces, leaving the seam
            # unhealed. Unless the constraint allows no such token; then the grammar decides.
            first = bits & self.index.prefix_mask(self._prefix)
            if first.any():
                bits = first
        size = vocab if size is None else size
        if size <= vocab:
            return bits[:size].view(np.bool_)
        out = np.zeros(size, dtype=np.bool_)
        out[:vocab] = bits
        return out

    def allowed(self) -> np.ndarray:
        """The mask as a numpy bool array [vocab] (what `replay` walks with)."""
        return self._allowed(None)

    def allowed_tokens(self) -> list[int]:
        """Ids of the allowed tokens (EOS included when the constraint is complete)."""
        return torch.nonzero(self.mask()).flatten().tolist()

    # -- committing ------------------------------------------------------------------------------

    def consume(self, token_id: int) -> None:
        """Commit one sampled token; raises `ConstraintError` if the mask did not allow it."""
        healing = self._engine_state is None and self._healing_step()
        if healing and self.index.token_bytes(token_id).startswith(self._prefix):
            self._tokens.append(token_id)  # the engine, if ever needed, replays it
            return
        if not self._engine.consume_token(token_id):
            got = self.index.token_bytes(token_id)
            raise ConstraintError(
                f"token {token_id} ({got!r}) is not allowed by {self.spec.describe()} "
                f"after {self.text()!r}"
            )
        self._tokens.append(token_id)

    def consume_all(self, token_ids: list[int], *, forced: bool = True) -> None:
        """Commit several tokens (typically `forced_tokens()`, counted in `forced_count`)."""
        for token in token_ids:
            self.consume(token)
        if forced:
            self.forced_count += len(token_ids)

    def forced_tokens(self) -> list[int]:
        """Tokens the constraint forces next (canonically tokenized), or [] if there is a choice.

        The engine holds back the last forced bytes when they could still merge with what
        follows into a longer token, so feeding these never blocks a better tokenization.
        """
        return list(self._engine.compute_ff_tokens())

    def valid_prefix(self, token_ids: list[int]) -> int:
        """How many of `token_ids`, in order, the constraint would take next (none are
        committed). While healing alone waits for its first token: 0."""
        if self._healing_step():
            return 0
        return int(self._engine.validate_tokens(token_ids))

    def forced_text(self) -> bytes:
        """The bytes the constraint forces next (may be longer than `forced_tokens()` covers)."""
        return bytes(self._engine.compute_ff_bytes())

    def rollback(self, n: int) -> None:
        """Undo the last `n` committed tokens."""
        if n > len(self._tokens) or not self._engine.rollback(n):
            raise RuntimeError(f"cannot roll back {n} of {len(self._tokens)} tokens")
        del self._tokens[len(self._tokens) - n :]

    # -- state -----------------------------------------------------------------------------------

    def is_accepting(self) -> bool:
        """The output so far is a complete value (EOS or a stop may end it here)."""
        return self._engine.is_accepting()

    def is_finished(self) -> bool:
        """Nothing but EOS can follow (the value is complete and cannot grow, or a stop ended)."""
        return self._engine.is_stopped()

    def is_free(self) -> bool:
        """No constraint is left (none given; healing prefix produced): masks may be skipped."""
        return not self.spec.constrained and len(self.text()) >= len(self._prefix)

    def error(self) -> str | None:
        """Why the matcher is stuck (the engine's reason), or None."""
        return self._engine.get_error() or None

    @property
    def tokens(self) -> tuple[int, ...]:
        return tuple(self._tokens)

    def text(self) -> bytes:
        """All bytes committed so far (healing prefix and stop included)."""
        return self.index.decode(self._tokens)

    def result(self) -> MatchResult:
        """The committed text without the healing prefix, split into value and stop text."""
        data = self.text()
        body = data[len(self._prefix) :] if data.startswith(self._prefix) else b""
        stop = b""
        if self.spec.constrained and (self.spec.stop or self.spec.stop_regex):
            captured = self._engine.get_capture("stop")
            if captured and body.endswith(captured):
                stop = bytes(captured)
        value = body[: len(body) - len(stop)]
        return MatchResult(
            value=value.decode("utf-8", errors="replace"),
            stop_text=stop.decode("utf-8", errors="replace"),
            complete=self.is_accepting() or bool(stop),
        )


def incomplete_output_error(
    spec: ConstraintSpec,
    partial: str,
    *,
    gen_name: str | None = None,
    reason: str = "max_tokens",
    span: Span | None = None,
    source: str | None = None,
) -> IncompleteOutputError:
    """The error for a gen that stopped before its constraint was complete.

    >>> err = incomplete_output_error(ConstraintSpec(pattern="[0-9]{4}"), "12", gen_name="pin")
    >>> str(err)[:72]
    "gen 'pin' stopped (max_tokens) before its pattern '[0-9]{4}' was complete"
    """
    who = f"gen {gen_name!r}" if gen_name else "gen"
    return IncompleteOutputError(
        f"{who} stopped ({reason}) before its {spec.describe()} was complete; "
        f"partial output: {partial!r} (pass allow_partial=True to keep the partial value)",
        span,
        source,
    )
