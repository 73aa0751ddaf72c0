"""OpenAI-compatible servers: OpenAI, Azure OpenAI, vLLM, Friendli and llama.cpp's server.

Built on the official `openai` client (imported on first use). Argument names are Guidance
0.0.64's, plus openai>=1's `base_url`::

    llm = guidance.llms.OpenAI("gpt-4o-mini")                      # OPENAI_API_KEY
    llm = guidance.llms.OpenAI("gpt-4o", api_type="azure", api_base="https://x.openai.azure.com",
                               api_version="2024-06-01", deployment_id="my-gpt4o")
    llm = guidance.llms.OpenAI("smollm2", api_type="llamacpp", base_url=server.base_url)

Completion models get the flat prompt; chat models get one message per role block
(`openai_chat.py`). Streaming, stop strings and `stop_regex` go through `openai_wire.py`;
`select` scores options from top logprobs or lets the server constrain the choice
(`openai_select.py`); constraints are sent in the server's dialect (`constraints/dialects.py`)
and the returned value is always checked here.
"""

from __future__ import annotations

import asyncio
import os
import uuid
import weakref
from typing import Any

from guidance_engine.constraints import ConstraintSpec
from guidance_engine.constraints.dialects import (
    check_cut_value,
    check_value,
    server_constraint,
    vllm_dialect,
)
from guidance_engine.errors import ConstraintError, ModelAPIError, ModelError
from guidance_engine.llms.base import (
    ChunkCallback,
    FinishReason,
    GenRequest,
    GenResult,
    SelectRequest,
    SelectResult,
)
from guidance_engine.llms.classic import ClassicLLM, ClassicSession
from guidance_engine.llms.llamacpp_checks import check_reply
from guidance_engine.llms.openai_chat import ChatPrompt, ChatShapeError, chat_messages
from guidance_engine.llms.openai_detect import (
    Detected,
    detect_server,
    is_openai_itself,
    read_json,
    server_root,
    vllm_version,
)
from guidance_engine.llms.openai_profiles import (
    PROFILES,
    ServerProfile,
    default_chat_mode,
    server_capabilities,
)
from guidance_engine.llms.openai_select import select
from guidance_engine.llms.openai_wire import (
    ChoiceState,
    RetryPolicy,
    StreamResult,
    stream_choices,
    usage_stats,
)
from guidance_engine.llms.stops import StopScanner

#: gen keywords sent to the server as they are (OpenAI's own, and vLLM / llama.cpp samplers).
SERVER_SAMPLING_KWARGS = frozenset({
    "frequency_penalty", "presence_penalty", "logit_bias", "top_k", "min_p",
    "repetition_penalty", "typical_p",
})
_CHATML = ("<|im_start|>{role}\n", "<|im_end|>")


class OpenAI(ClassicLLM):
    """An OpenAI-compatible model server (see the module docstring).

    `api_type` picks the server preset: "openai", "azure", "vllm", "friendli", "llamacpp";
    left out with an `api_base` that is not OpenAI's, the server is asked what it is
    (`openai_detect.py`, here at construction, as before), so `capabilities` (what the server
    can do, `openai_profiles.py`) describe the server found. vLLM's version, asked on the first
    constrained call, only picks the names of the constraint fields (`dialect()`).
    `chat_mode=None` decides from the model name; `chat_mode` sets `capabilities.chat_api`.
    `caching=True` serves repeated deterministic calls (temperature 0 or a seed) from the
    generation cache. `max_retries` and `timeout` (seconds) apply to every request;
    `select_method` is "auto", "logprobs" or "constraint". On llama.cpp, `prompt_cache` keeps
    the server's prompt cache on, and each session (one program run) sticks to one slot, so
    consecutive requests reuse its prefix.
    Every request of one program run carries the header `session_header` (default
    `x-session-id`) with one random id, so a router in front of several servers can keep a run
    on one replica (None: no header; never sent to OpenAI or Azure). Extra keyword arguments go
    to the `openai` client.
    """

    def __init__(
        self,
        model: str,
        api_key: str | None = None,
        api_base: str | None = None,
        api_type: str | None = None,
        api_version: str | None = None,
        deployment_id: str | None = None,
        organization: str | None = None,
        chat_mode: bool | None = None,
        caching: bool = True,
        max_retries: int = 5,
        timeout: float = 60.0,
        base_url: str | None = None,
        chat_template: str | None = None,
        select_method: str = "auto",
        prompt_cache: bool = True,
        session_header: str | None = "x-session-id",
        **client_kwargs: Any,
    ) -> None:
        base = (base_url or api_base) if api_type is not None else \
            PROFILES["openai"].resolve_base(base_url or api_base)
        detected = Detected(api_type) if api_type is not None else \
            Detected("openai") if is_openai_itself(base) else detect_server(str(base))
        api_type = detected.api_type
        if api_type not in PROFILES:
            raise ModelError(f"api_type must be one of {', '.join(map(repr, PROFILES))}; "
                             f"found {api_type!r}")
        if select_method not in ("auto", "logprobs", "constraint"):
            raise ModelError("select_method must be 'auto', 'logprobs' or 'constraint'; "
                             f"found {select_method!r}")
        self.model = model
        self.profile = PROFILES[api_type]
        self.api_type = api_type
        self.base_url = self.profile.resolve_base(base_url or api_base)
        self.api_key = self.profile.resolve_key(api_key)
        self.api_version = api_version or os.environ.get("OPENAI_API_VERSION")
        self.deployment_id = deployment_id or model
        self.organization = organization
        self.caching = caching
        self.retry = RetryPolicy(max_retries=max_retries)
        self.timeout = timeout
        self.select_method = select_method
        self.prompt_cache = prompt_cache
        self.session_header = session_header
        self._slots: int | None = None
        self._version = detected.version  # vLLM's /version, read when first needed
        self._server_props = detected.props  # llama.cpp's /props, read when first needed
        self._sessions = 0
        self.client_kwargs = client_kwargs
        self._chat_template = chat_template
        self._markup: Any = None
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary())
        self._sync_client: Any = None
        self.chat_mode = default_chat_mode(model, api_type) if chat_mode is None else chat_mode
        self.sampling_kwargs = SERVER_SAMPLING_KWARGS
        self._check_settings()

    def __repr__(self) -> str:
        return f"OpenAI({self.model!r}, api_type={self.api_type!r}, base_url={self.base_url!r})"

    @property
    def chat_mode(self) -> bool:
        """Whether the model is used through the chat endpoint (`capabilities.chat_api`)."""
        return self.capabilities.chat_api

    @chat_mode.setter
    def chat_mode(self, chat: bool) -> None:
        """0.0.64's switch: sets the endpoint, and with it what the model can do."""
        self.capabilities = server_capabilities(
            self.profile, bool(chat), roles=self._chat_template is not None or
            self.api_type == "llamacpp", prompt_cache=self.prompt_cache,
            select_method=self.select_method)

    def _check_settings(self) -> None:
        """Missing keys or endpoints fail here, before any request."""
        profile = self.profile
        missing = profile.missing(self.api_key, self.base_url)
        if missing == "api_key":
            raise ModelError(
                f"api_type={profile.name!r} needs an API key: pass api_key=... or set the "
                f"{profile.key_env[0]} environment variable"
            )
        if missing == "base_url":
            where = f" or set {profile.base_env}" if profile.base_env else ""
            raise ModelError(f"api_type={profile.name!r} needs the server's address: pass "
                             f"base_url='http://host:port/v1'{where}")
        if profile.name == "azure" and not self.api_version:
            raise ModelError("api_type='azure' needs api_version='2024-06-01' (or another "
                             "version), or the OPENAI_API_VERSION environment variable")

    # -- clients -------------------------------------------------------------------------------

    def client(self, asynchronous: bool = True) -> Any:
        """The `openai` client (AsyncOpenAI / OpenAI, or the Azure ones), made on first use.

        An async client holds connections bound to one event loop, so there is one per loop
        (each synchronous program call runs its own loop)."""
        if not asynchronous:
            if self._sync_client is None:
                self._sync_client = self._make_client(False)
            return self._sync_client
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = self._make_client(True)
        return client

    def endpoint(self) -> Any:
        """The async client's chat completions (chat mode) or completions endpoint."""
        client = self.client()
        return client.chat.completions if self.capabilities.chat_api else client.completions

    def _make_client(self, asynchronous: bool) -> Any:
        import openai

        common: dict[str, Any] = {"api_key": self.api_key or "no-key", "max_retries": 0,
                                  "timeout": self.timeout, "organization": self.organization,
                                  **self.client_kwargs}
        if asynchronous and "http_client" not in common:
            # The client's default wrapper closes itself on garbage collection in whatever loop
            # runs then; ours outlive their loop (one per program call), so use the plain one.
            common["http_client"] = openai.DefaultAsyncHttpxClient(timeout=self.timeout)
        if self.api_type == "azure":
            cls: Any = openai.AsyncAzureOpenAI if asynchronous else openai.AzureOpenAI
            return cls(azure_endpoint=self.base_url, azure_deployment=self.deployment_id,
                       api_version=self.api_version, **common)
        cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
        return cls(base_url=self.base_url, **common)

    # -- the LLM contract ----------------------------------------------------------------------

    def session(self, asynchronous: bool = False) -> OpenAISession:
        session = OpenAISession(self)
        session.asynchronous = asynchronous
        return session

    def role_start(self, role: str, **kwargs: Any) -> str:
        if self.capabilities.chat_api:
            return _CHATML[0].format(role=role)
        return self._role_markup().start(role)

    def role_end(self, role: str) -> str:
        if self.capabilities.chat_api:
            return _CHATML[1]
        return str(self._role_markup().end(role))

    def _role_markup(self) -> Any:
        """Role markup for completion mode: the chat template given, or the server's own."""
        if self._markup is None:
            from guidance_engine.llms.chat import RoleMarkup

            template = self._chat_template or self._server_chat_template()
            if not template:
                raise ModelError(
                    f"role blocks on a completion model need its chat template: pass "
                    f"chat_template=... or chat_mode=True to OpenAI({self.model!r})")
            self._markup = RoleMarkup.from_template(template)
        return self._markup

    def _server_chat_template(self) -> str | None:
        if self.api_type != "llamacpp" or self.base_url is None:
            return None
        return str(self._props().get("chat_template") or "") or None

    def _props(self) -> dict[str, Any]:
        """llama.cpp's `/props` (chat template, number of slots), read once (detection may
        already have read it)."""
        if self._server_props is None:
            url = f"{server_root(self.base_url or '')}/props"
            try:
                self._server_props = dict(read_json(url, self.timeout))
            except (OSError, ValueError, TypeError) as exc:
                raise ModelAPIError(f"could not read the server's settings from {url}: "
                                    f"{exc}") from exc
        return self._server_props

    def constraint_dialect(self) -> str:
        """The dialect constraints are sent in: the api_type, or for vLLM the one its
        `/version` calls for (asked once)."""
        if self.api_type != "vllm":
            return self.api_type
        if self._version is None and self.base_url is not None:
            self._version = vllm_version(self.base_url, min(self.timeout, 10.0)) or "unknown"
        return vllm_dialect(self._version)

    async def dialect(self) -> str:
        """`constraint_dialect()` from a running program: vLLM's `/version` is asked in a thread,
        so a slow server never blocks the event loop that other programs share."""
        if self.api_type == "vllm" and self._version is None:
            return await asyncio.to_thread(self.constraint_dialect)
        return self.constraint_dialect()

    def llamacpp_fields(self) -> dict[str, Any]:
        """Fields for a new llama.cpp session: its prompt cache and slot (round robin)."""
        if not self.prompt_cache:
            return {"cache_prompt": False}
        if self._slots is None:
            self._slots = max(int(self._props().get("total_slots") or 1), 1)
        self._sessions += 1
        return {"cache_prompt": True, "id_slot": (self._sessions - 1) % self._slots}

    def cache_identity(self) -> dict[str, Any]:
        return {"backend": "OpenAI", "api_type": self.api_type, "model": self.model,
                "base_url": self.base_url, "deployment": self.deployment_id,
                "chat": self.capabilities.chat_api}

    # -- request building ----------------------------------------------------------------------

    def chat_prompt(self, request: GenRequest | SelectRequest) -> ChatPrompt:
        return chat_messages(request.structured, allow_prefill=self.capabilities.prefill)

    def body(self, request: GenRequest | SelectRequest, prefix: str = "") -> dict[str, Any]:
        """Endpoint-specific fields: `prompt`, or `messages` (+ prefill options)."""
        if not self.capabilities.chat_api:
            return {"prompt": request.prompt + prefix}
        chat = self.chat_prompt(request)
        prefill = chat.prefill + prefix
        messages = list(chat.messages)
        if not prefill:
            return {"messages": messages}
        if not self.capabilities.prefill:
            raise ChatShapeError(
                f"api_type={self.api_type!r} cannot continue an assistant message already "
                f"begun, which this needs (after {prefill[-40:]!r})")
        messages.append({"role": "assistant", "content": prefill})
        extra = {"continue_final_message": True, "add_generation_prompt": False} \
            if self.api_type == "vllm" else {}
        return {"messages": messages, "extra_body": extra}


def _sampling(request: GenRequest, seed: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {"temperature": request.temperature, "top_p": request.top_p}
    if request.max_tokens is not None:
        params["max_tokens"] = request.max_tokens
    if seed is not None:
        params["seed"] = seed
    return params


class OpenAISession(ClassicSession):
    """Requests for one program execution (the server keeps its own prompt cache)."""

    def __init__(self, llm: OpenAI) -> None:
        self.llm = llm
        self.requests = 0  # HTTP requests made (tests and benchmarks read it)
        self._fields: dict[str, Any] | None = None
        self.session_id = uuid.uuid4().hex

    def headers(self) -> dict[str, str]:
        """HTTP headers every request of this session carries (the session id for routers)."""
        header = self.llm.session_header
        if header is None or self.llm.api_type in ("openai", "azure"):
            return {}
        return {header: self.session_id}

    def server_fields(self) -> dict[str, Any]:
        """Server-specific fields every request of this session carries (llama.cpp: slot)."""
        if self._fields is None:
            self._fields = self.llm.llamacpp_fields() if self.llm.api_type == "llamacpp" else {}
        return self._fields

    async def gen(self, request: GenRequest, on_chunk: ChunkCallback | None = None) -> GenResult:
        llm = self.llm
        if request.n < 1:
            raise ModelError(f"gen n= must be at least 1, found {request.n}")
        spec = ConstraintSpec.for_request(request)
        llm.validate_request(request)
        if llm.capabilities.chat_api and request.turn_continues:
            raise ChatShapeError(
                "on a chat model a gen must end its {{#assistant}} turn: the server writes the "
                "whole turn, so template text after the gen inside the same block is impossible; "
                "move that text after {{/assistant}} or use chat_mode=False")
        body = llm.body(request)  # raises ChatShapeError before any request
        native = llm.capabilities.native_n or request.n == 1
        groups = [list(range(request.n))] if native else [[i] for i in range(request.n)]
        results = await asyncio.gather(*(
            self._call(request, body, spec, samples, on_chunk) for samples in groups))
        if llm.api_type == "llamacpp":
            for result in results:
                if len(result.choices) == 1:  # a client-side stop ended the text in time
                    choice = result.choices[0]
                    finish = None if choice.scanner.stopped else choice.finish
                    check_reply(result.usage, finish, request.max_tokens)
        choices = [c for r in results for c in r.choices]
        return _gen_result(request, spec, choices, [r.usage for r in results])

    async def _call(
        self, request: GenRequest, body: dict[str, Any], spec: ConstraintSpec,
        samples: list[int], on_chunk: ChunkCallback | None,
    ) -> StreamResult:
        llm = self.llm
        seed = request.seed + samples[0] if request.seed is not None else None
        params = {"model": llm.model, **body, **_sampling(request, seed), "stream": True,
                  "stream_options": {"include_usage": True}}
        if len(samples) > 1:
            params["n"] = len(samples)
        server_stops = list(request.stop)
        limit = llm.capabilities.server_stops
        if (limit is None or len(server_stops) <= limit) and not (
                request.save_stop_text and len(server_stops) > 1):
            params["stop"] = server_stops or None
        if request.logprobs is not None:
            if llm.capabilities.chat_api:
                params.update(logprobs=True, top_logprobs=request.logprobs)
            else:
                params["logprobs"] = request.logprobs
        extra = dict(params.pop("extra_body", None) or {})
        extra.update(server_constraint(spec, await llm.dialect(), llm.capabilities.chat_api))
        extra.update(request.extra)
        for key, value in self.server_fields().items():
            extra.setdefault(key, value)
        if "response_format" in extra:
            params["response_format"] = extra.pop("response_format")
        if extra:
            params["extra_body"] = extra
        params["extra_headers"] = self.headers() or None
        prefill = llm.chat_prompt(request).prefill if llm.capabilities.chat_api else ""
        choices = [ChoiceState(s, StopScanner(request.stop, request.stop_regex), prefill)
                   for s in samples]
        endpoint = llm.endpoint()

        def create() -> Any:
            self.requests += 1
            return endpoint.create(**{k: v for k, v in params.items() if v is not None})

        result = await stream_choices(create, choices, on_chunk, llm.retry, llm.api_type)
        if len(server_stops) == 1 and "stop" in params:
            for choice in result.choices:  # the server cut at its only stop string
                if choice.finish == "stop" and not choice.scanner.stopped:
                    choice.scanner.stop_text = server_stops[0]
        return result

    async def select(self, request: SelectRequest) -> SelectResult:
        return await select(self, request)


def _gen_result(
    request: GenRequest, spec: ConstraintSpec, choices: list[ChoiceState],
    usages: list[dict[str, Any]],
) -> GenResult:
    texts, reasons, stops = [], [], []
    for choice in choices:
        text = choice.scanner.text
        reason: FinishReason = "stop" if choice.scanner.stopped or choice.finish == "stop" \
            else "length"
        if spec.constrained:
            _check_constrained(request, spec, text, reason)
        texts.append(text)
        reasons.append(reason)
        stops.append(choice.scanner.stop_text)
    logprobs = tuple(tuple(c.logprobs) for c in choices) if request.logprobs is not None \
        else None
    return GenResult(tuple(texts), tuple(reasons), tuple(stops), logprobs, usage_stats(usages))


def _check_constrained(
    request: GenRequest, spec: ConstraintSpec, text: str, reason: FinishReason
) -> None:
    """The server's value must satisfy the constraint (the same engine checks it here)."""
    verdict = (check_cut_value(spec, text, request.name, request.allow_partial)
               if reason == "length" else check_value(spec, text))
    if verdict == "complete" or (verdict == "partial" and request.allow_partial):
        return
    raise ConstraintError(
        f"the server returned a value that does not satisfy {spec.describe()}: {text[:80]!r}; "
        f"the server ignored or does not support the constraint")


__all__ = ["PROFILES", "OpenAI", "OpenAISession", "ServerProfile", "default_chat_mode"]
