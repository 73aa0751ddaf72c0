"""Constraints: regex / options / JSON schema / grammar → token masks, and token healing.

This package is the only place that imports the engine (llguidance). Everything else talks to
this small interface:

`TokenIndex.for_tokenizer(hf_tokenizer, store=None) -> TokenIndex`
    Memoised per tokenizer. Its table (token bytes, special flags, `eos_id` / `eos_ids`,
    `vocab_size`, which may be smaller than the model's logits width: ids past it are never
    allowed) is loaded from `store` when there (~30 ms), else built (~0.3 s for SmolLM2's 49k
    vocab) and saved. The engine's tokenizer is built on first use by a constraint. Compiled
    grammars are cached on it.

`ConstraintSpec(pattern=None, json_schema=None, grammar=None, options=None, stop=(),
stop_regex=(), healing_prefix="")` (frozen dataclass)
    At most one of pattern (the engine's Rust regex syntax, as for stop_regex), json_schema (a
    dict or a pydantic model class; `x-guidance` options honoured as llguidance defines them,
    compact layout by default; keywords llguidance refuses are rewritten first where an exact
    equivalent exists, see `schema_rewrite`), grammar (a shipped name such as "arithmetic", a
    path to a .lark file, or inline Lark text) and options (exact strings, for a token-by-token
    select). Semantics: the generated text is `healing_prefix + value + stop`, where value fully
    matches the constraint; once the value is complete the model may end (EOS) or emit one stop
    string / stop_regex match, which ends generation and is not part of the value. Without a
    constraint (healing only) any text that starts with the prefix is allowed, and stop strings
    stay the backend's job.

`validate(spec, index=None) -> None`
    Raises `guidance_engine.errors.ConstraintError` naming the part at fault and the engine's
    reason (lookaround, backreference, unsatisfiable pattern, grammar syntax error, schema the
    engine cannot handle, more than one constraint). Compiles once: on `index` when given (the
    compiled grammar is cached there by its text, and a `Matcher` of the same spec reuses it),
    else on the byte vocabulary (no tokenizer needed: call it at compile time).

`heal(token_ids, index) -> HealPlan(keep, prefix, removed)`
    Keep `token_ids[:keep]`; the output must start with `prefix` (the removed text). Backs up
    over up to 2 trailing tokens whose text is a proper prefix of some other vocabulary token.

`Matcher(spec, index)` — one per sample:
    `apply_mask(logits)` (in place, -inf where disallowed; logits [vocab] or [1, vocab]; runs
    in numpy on one thread: prefer it to `mask()` + torch `masked_fill_`, whose intra-op
    threads stall for milliseconds when the cores are busy),
    `mask(size) -> torch.bool [size]`, `fill_bitmask(int32 [ceil(vocab/32)])` (cheapest),
    `allowed_tokens()`, `consume(token)`, `consume_all(tokens)`,
    `forced_tokens() -> list[int]` (fast-forward; [] when there is a choice),
    `is_accepting()` (EOS allowed), `is_finished()` (nothing but EOS can follow: stop sampling),
    `is_free()` (no constraint left: masks may be skipped), `rollback(n)`, `error()`,
    `result() -> MatchResult(value, stop_text, complete)` with the healing prefix stripped.

`incomplete_output_error(spec, partial, gen_name=, reason=, span=, source=)`
    The `IncompleteOutputError` to raise when max_tokens/EOS came before the value was complete.

Worked example (the backend's loop; `index` from the model's tokenizer)::

    plan = heal(prompt_ids, index)                       # 'http:' -> keep all but ':'
    feed(prompt_ids[:plan.keep])
    spec = ConstraintSpec(pattern=r"//[a-z]+\\.com", stop=('"',), healing_prefix=plan.prefix)
    m = Matcher(spec, index)
    while not m.is_finished() and budget_left():
        if forced := m.forced_tokens():
            feed(forced); m.consume_all(forced); continue   # one prefill, no sampling
        logits = step()                                    # [vocab]
        m.apply_mask(logits)
        tok = sample(logits)
        if tok in index.eos_ids: break
        m.consume(tok); feed([tok])
    r = m.result()      # MatchResult(value='//example.com', stop_text='"', complete=True)
    if not r.complete: raise incomplete_output_error(spec, r.value, gen_name="url")
"""

from typing import TYPE_CHECKING, Any

from guidance_engine.constraints.healing import HealPlan, heal
from guidance_engine.constraints.spec import (
    ConstraintSpec,
    engine_grammar,
    load_grammar,
    shipped_grammars,
    validate,
)
from guidance_engine.constraints.vocab import TokenIndex

if TYPE_CHECKING:
    from guidance_engine.constraints.matcher import Matcher, MatchResult, incomplete_output_error

_LAZY = {"Matcher", "MatchResult", "incomplete_output_error"}


def __getattr__(name: str) -> Any:
    # The matcher needs torch; validating a spec (done for every program, Mock included) must not
    # pay torch's import time, so the matcher module loads on first use.
    if name in _LAZY:
        from guidance_engine.constraints import matcher

        return getattr(matcher, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ConstraintSpec",
    "HealPlan",
    "MatchResult",
    "Matcher",
    "TokenIndex",
    "engine_grammar",
    "heal",
    "incomplete_output_error",
    "load_grammar",
    "shipped_grammars",
    "validate",
]
