"""The model contract as data: what one backend (or the server behind it) can do.

Every backend states its `Capabilities`; `LLM.validate_request` checks each request against them
before any model call, so a request a backend cannot honour fails up front with one message,
worded the same on every backend, that names the option and the backend::

    >>> caps = Capabilities("an api_type='openai' server", top_logprobs=20,
    ...                     constraint_kinds=frozenset({"json_schema", "stop_regex"}))
    >>> caps.refusal(logprobs=30)
    "logprobs=30 asks for more alternatives per token than an api_type='openai' server gives \
(at most 20)"
    >>> caps.kind_refusal("pattern")
    "pattern= cannot be sent to an api_type='openai' server: it enforces only json_schema=, \
stop_regex="

Agents and tools read the same data (`llm.capabilities.chat_api`, `.constraint_kinds`) instead
of asking a backend what it is.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The constraint kinds a request can carry: the four decoding constraints of `gen`/`select`
#: and `stop_regex` (which every current backend runs on its own text, constrained or not).
CONSTRAINT_KINDS: tuple[str, ...] = ("pattern", "json_schema", "grammar", "options",
                                     "stop_regex")
ALL_KINDS: frozenset[str] = frozenset(CONSTRAINT_KINDS)


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do; `LLM.validate_request` refuses requests that ask for more.

    `name` is how messages name the backend ("Transformers", "an api_type='vllm' server").

    Chat: `roles` (role blocks can be rendered: a chat template, or a chat API's messages),
    `chat_api` (the model takes messages and writes each assistant turn whole, so a gen must end
    its turn), `prefill` (an assistant message already begun can be continued).
    Limits: `max_stops` stop strings per request (None: any; the engine's stop scanner cuts at
    any number), of which the model side cuts at `server_stops` itself (None: all; beyond that
    the text is cut client-side, which may cost tokens); `max_n` samples per model call (None:
    any; more run as several calls); `top_logprobs` alternatives per token (None: any).
    Scoring: `logits` (full next-token distributions), `exact_select` (select scores every
    option in full rather than from a top-k cut).
    Constraints: `constraint_kinds` enforced while decoding (of `CONSTRAINT_KINDS`), sent in
    `dialect` ("llguidance": the engine's own, on the model's vocabulary; else a server's
    request fields, `constraints/dialects.py`); `constraint_hint` says where the kinds it lacks
    can be had.
    Prompt: `healing` (token healing at the prompt/generation seam), `kv_reuse` (the KV state
    of a prompt prefix seen before is reused, so a call costs only its new tokens).
    """

    name: str
    roles: bool = True
    chat_api: bool = False
    prefill: bool = True
    max_stops: int | None = None
    server_stops: int | None = None
    max_n: int | None = None
    top_logprobs: int | None = None
    logits: bool = True
    exact_select: bool = True
    constraint_kinds: frozenset[str] = ALL_KINDS
    dialect: str = "llguidance"
    constraint_hint: str = ""
    healing: bool = True
    kv_reuse: bool = True

    @property
    def native_n(self) -> bool:
        """Whether n > 1 samples come from one model call."""
        return self.max_n is None or self.max_n > 1

    def refusal(
        self, stops: int = 0, logprobs: int | None = None, token_healing: bool | None = None,
    ) -> str | None:
        """Why a request with these settings cannot run here (None: it can)."""
        if self.max_stops is not None and stops > self.max_stops:
            return (f"stop= has {stops} stop strings but {self.name} takes at most "
                    f"{self.max_stops}")
        if logprobs is not None and self.top_logprobs is not None and \
                logprobs > self.top_logprobs:
            return (f"logprobs={logprobs} asks for more alternatives per token than {self.name} "
                    f"gives (at most {self.top_logprobs})")
        if token_healing and not self.healing:
            return (f"token_healing=True cannot be honoured by {self.name}, which does no token "
                    f"healing; leave token_healing out")
        return None

    def kind_refusal(self, kind: str) -> str | None:
        """Why a `kind` constraint (of `CONSTRAINT_KINDS`) cannot run here (None: it can)."""
        if kind in self.constraint_kinds:
            return None
        takes = ", ".join(f"{k}=" for k in CONSTRAINT_KINDS if k in self.constraint_kinds)
        hint = f"; {self.constraint_hint}" if self.constraint_hint else ""
        return (f"{kind}= cannot be sent to {self.name}: it enforces only {takes or 'none'}"
                f"{hint}")
