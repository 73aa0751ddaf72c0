"""The model contract: what the interpreter asks of a backend, as plain data.

The interpreter never imports a backend. It holds an `LLM`, opens one `Session` per program
execution, and sends it `GenRequest`s and `SelectRequest`s whose `prompt` is the full text the
model should see so far (role markup included, hidden text excluded). A session keeps whatever
token state it can between calls (a KV cache, for local models), so sending the full prompt each
time costs only the part the session has not seen yet.

The prompt is also given *structured*: `segments` split it into runs of one provenance (role
markup, template text, a variable's value, model output) inside one role (or none). Local
backends tokenize it so that only markup and template text can produce special tokens; chat APIs
build their messages from it. A request made without segments is one trusted template segment.

    session = llm.session()
    result = await session.gen(GenRequest(prompt="Name:", stop=("\\n",), max_tokens=8))
    result.texts[0]   # ' Bob'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from guidance_engine.errors import ConstraintError
from guidance_engine.llms.cache_store import CacheView
from guidance_engine.llms.capabilities import Capabilities

if TYPE_CHECKING:
    from guidance_engine.constraints import ConstraintSpec, TokenIndex

FinishReason = Literal["stop", "length", "eos", "constraint"]

#: Where a piece of prompt text came from. Only "markup" and "template" are trusted to contain
#: special tokens; "value" (a variable) and "generated" (model output) are always plain text.
SegmentKind = Literal["markup", "template", "value", "generated"]
TRUSTED_KINDS: frozenset[str] = frozenset({"markup", "template"})


@dataclass(frozen=True)
class Segment:
    """A run of prompt text with one provenance, inside role block `role` (None: outside).

    >>> Segment("<|im_start|>user\n", "markup", "user").trusted
    True
    """

    text: str
    kind: SegmentKind = "template"
    role: str | None = None

    @property
    def trusted(self) -> bool:
        return self.kind in TRUSTED_KINDS


def prompt_segments(prompt: str, segments: tuple[Segment, ...]) -> tuple[Segment, ...]:
    """`segments`, or the whole `prompt` as one template segment when none were given."""
    return segments if segments else ((Segment(prompt),) if prompt else ())


#: The model-specific sampling keywords a local backend applies as logits processors (the names
#: and meanings of Hugging Face `generate`), passed through `{{gen ... top_k=40}}`.
LOGITS_PROCESSOR_KWARGS = frozenset({
    "repetition_penalty", "top_k", "typical_p", "min_p", "no_repeat_ngram_size", "epsilon_cutoff",
})


@dataclass(frozen=True)
class GenRequest:
    """One `{{gen}}` call. Constraint fields are data; the backend compiles them.

    `json_schema` is a JSON-schema dict (the interpreter converts pydantic classes);
    `grammar` is a grammar name from `grammars/`, a file path, or inline Lark text.
    `token_healing=None` means "the model's default".
    """

    prompt: str
    stop: tuple[str, ...] = ()
    stop_regex: tuple[str, ...] = ()
    save_stop_text: bool = False
    max_tokens: int | None = None
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    logprobs: int | None = None
    pattern: str | None = None
    json_schema: Mapping[str, Any] | None = None
    grammar: str | None = None
    allow_partial: bool = False
    token_healing: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # backend-specific kwargs
    name: str | None = None  # the variable the gen saves into, for error messages and logs
    segments: tuple[Segment, ...] = ()  # `prompt` with provenance; () means one template run
    turn_continues: bool = False  # fixed template text follows the gen inside its role block

    @property
    def structured(self) -> tuple[Segment, ...]:
        """The prompt as segments (one template segment when none were given)."""
        return prompt_segments(self.prompt, self.segments)


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()  # the `logprobs` most likely alternatives


@dataclass(frozen=True)
class TokenMark:
    """A piece of a gen's value that plain sampling did not choose, for the view and the log.

    `kind` "healed": the first token(s) after token healing backed up the end of the prompt
    (`backed_up`) and the model chose `chosen`, which re-produces it and goes on; "forced": the
    constraint allowed only these tokens (`chosen`), fed without sampling (fast-forward).
    `start`/`end` are character offsets in the value (sample 0)::

        TokenMark("healed", 0, 4, " John", backed_up=" ")   # value 'John', prompt 'Name: '
    """

    kind: Literal["healed", "forced"]
    start: int
    end: int
    chosen: str
    backed_up: str = ""

    @property
    def note(self) -> str:
        """What happened, in words (the view's hover text)."""
        if self.kind == "healed":
            return f"healing backed up {self.backed_up!r} and the model chose {self.chosen!r}"
        return f"forced by the constraint, no sampling: {self.chosen!r}"


@dataclass(frozen=True)
class GenStats:
    """Token accounting for logs and benchmarks."""

    prompt_tokens: int = 0  # tokens in the prompt as the model saw it
    fed_tokens: int = 0  # tokens actually run through the model (prompt part not reused)
    reused_tokens: int = 0  # prompt tokens served from the cache
    sampled_tokens: int = 0  # tokens chosen by sampling / argmax
    forced_tokens: int = 0  # tokens fed by fast-forward (the constraint allowed only one)
    healed_tokens: int = 0  # prompt tokens backed up by token healing
    forward_passes: int = 0
    drafted_tokens: int = 0  # tokens fed as drafts guessed from the context (prompt lookup)
    accepted_tokens: int = 0  # drafts that were then sampled (or forced): fed ahead, no pass


@dataclass(frozen=True)
class GenResult:
    """What a gen produced: one entry per sample (`n`).

    `texts` never includes the stop string; `stop_texts[i]` is the stop string that ended
    sample i (or "" when none did).
    """

    texts: tuple[str, ...]
    finish_reasons: tuple[FinishReason, ...]
    stop_texts: tuple[str, ...]
    logprobs: tuple[tuple[TokenLogprob, ...], ...] | None = None
    stats: GenStats = field(default_factory=GenStats)
    marks: tuple[TokenMark, ...] = ()  # sample 0's healed / forced tokens (local backends)


@dataclass(frozen=True)
class SelectRequest:
    """One `{{select}}`: choose among `options` after `prompt`.

    `suffix` is the fixed template text that follows the select (for example a closing quote),
    which a backend may score after each option to tell apart options that prefix each other.
    """

    prompt: str
    options: tuple[str, ...]
    suffix: str = ""
    temperature: float = 0.0
    seed: int | None = None
    token_healing: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    segments: tuple[Segment, ...] = ()  # `prompt` with provenance; () means one template run

    @property
    def structured(self) -> tuple[Segment, ...]:
        """The prompt as segments (one template segment when none were given)."""
        return prompt_segments(self.prompt, self.segments)


@dataclass(frozen=True)
class SelectResult:
    """The chosen option and the normalised log-probability of the options.

    `method` says how the choice was made: "exact" (every option scored in full, locally),
    "logprobs" (scored from a server's top logprobs) or "constraint" (the server generated
    under a choice constraint). `exact` is False when some probabilities are unknown; such
    options are missing from `logprobs` rather than given an invented value.
    """

    choice: str
    logprobs: Mapping[str, float]
    stats: GenStats = field(default_factory=GenStats)
    method: str = "exact"
    exact: bool = True


# Called with (sample index, text delta) as text is produced and known not to be a stop string.
ChunkCallback = Callable[[int, str], None]


class Session(ABC):
    """Token state for one program execution (a KV cache, for local models).

    0.0.64's low-level API (calling a session with a prompt) is `classic.ClassicSession`, which
    the backends' sessions are.
    """

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    @abstractmethod
    async def gen(self, request: GenRequest, on_chunk: ChunkCallback | None = None) -> GenResult:
        """Generate after `request.prompt`; stream deltas through `on_chunk`."""

    @abstractmethod
    async def select(self, request: SelectRequest) -> SelectResult:
        """Score every option after `request.prompt` and choose one."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release per-execution resources (a local backend may keep a cross-run cache)."""


class _CacheAccess:
    """`SomeLLM.cache`: that backend's cached generations (`.clear()`), as in 0.0.64."""

    def __get__(self, obj: object, owner: type) -> CacheView:
        return CacheView(owner.__name__)


class LLM(ABC):
    """A model backend: what it can do (`capabilities`), sessions, role markup and the request
    check. The backends (`Transformers`, `OpenAI`, `LlamaCpp`, `Mock`) are `classic.ClassicLLM`s,
    which adds 0.0.64's one-off call `llm("Name:", max_tokens=5)`."""

    cache = _CacheAccess()

    #: What this backend can do (`llms/capabilities.py`); `validate_request` checks every
    #: request against it before any model call. A backend declares its own.
    capabilities: Capabilities = Capabilities("this model")
    #: Serve repeated deterministic calls from the generation cache (llms/caching.py).
    caching: bool = False

    def cache_identity(self) -> dict[str, Any]:
        """What distinguishes this model in generation-cache keys (backend, model, endpoint)."""
        return {"backend": type(self).__name__, "model": repr(self)}

    #: Extra `gen` keywords this backend honours (they arrive in `GenRequest.extra`); any other
    #: unknown keyword is refused before the first model call, with a did-you-mean.
    sampling_kwargs: frozenset[str] = frozenset()

    @abstractmethod
    def session(self, asynchronous: bool = False) -> Session:
        """A new session for one program execution; `asynchronous` only changes what calling
        the session directly returns (0.0.64's API, `classic.py`: an awaitable instead of the
        result)."""

    @abstractmethod
    def role_start(self, role: str, **kwargs: Any) -> str:
        """The text that opens a `{{#role}}` block (for ChatML: `<|im_start|>user\\n`)."""

    @abstractmethod
    def role_end(self, role: str) -> str:
        """The text that closes a role block (for ChatML: `<|im_end|>`, newline included)."""

    def validate_request(self, request: GenRequest) -> None:
        """Raise `ConstraintError` for a request this backend cannot honour (its `capabilities`:
        too many stops, logprobs deeper than it gives, healing it cannot do, a constraint kind
        it does not enforce) or a pattern, stop regex, schema or grammar that is invalid; no
        model call is made. Every backend runs this one check; a backend adds its own limits in
        `check_constraint`."""
        caps = self.capabilities
        refusal = caps.refusal(len(request.stop), request.logprobs, request.token_healing)
        if refusal is None and request.stop_regex:
            refusal = caps.kind_refusal("stop_regex")
        if refusal is not None:
            raise ConstraintError(refusal)
        if (request.pattern is None and request.json_schema is None and request.grammar is None
                and not request.stop_regex):
            return  # nothing to check: skip importing the constraint engine
        from guidance_engine.constraints import ConstraintSpec, validate
        from guidance_engine.constraints.dialects import constraint_kind

        spec = ConstraintSpec.for_request(request)
        validate(spec, self.constraint_index())
        kind = constraint_kind(spec)
        if kind is not None:
            refusal = caps.kind_refusal(kind)
            if refusal is not None:
                raise ConstraintError(refusal)
            self.check_constraint(spec)

    def constraint_index(self) -> TokenIndex | None:
        """The vocabulary constraints are compiled on (None: the engine's byte vocabulary)."""
        return None

    def check_constraint(self, spec: ConstraintSpec) -> None:  # noqa: B027 - optional hook
        """Raise `ConstraintError` for a valid constraint this backend cannot enforce."""
