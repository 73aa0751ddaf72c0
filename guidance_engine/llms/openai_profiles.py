"""What differs between OpenAI-style servers, as data: keys, addresses and what each can do.

`PROFILES` has one `ServerProfile` per `api_type`; `server_capabilities` turns a profile, the
endpoint (chat or completions) and the backend's settings into the `Capabilities` the request
checks read. The constraint kinds come from `constraints.dialects.DIALECTS`, the one table of
what each server's dialect can express::

    >>> caps = server_capabilities(PROFILES["llamacpp"], chat=False)
    >>> caps.server_stops, caps.max_n, caps.top_logprobs, sorted(caps.constraint_kinds)[:2]
    (64, 1, 50, ['grammar', 'json_schema'])
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from guidance_engine.constraints.dialects import DIALECTS
from guidance_engine.llms.capabilities import Capabilities


@dataclass(frozen=True)
class ServerProfile:
    """What differs between OpenAI-style servers."""

    name: str
    key_env: tuple[str, ...]  # environment variables holding the key, first one preferred
    key_required: bool
    default_base: str | None
    base_env: str | None = None
    max_stops: int = 4  # stop strings the server accepts
    top_logprobs: int = 20  # most alternatives the server reports per token
    completion_logprobs: int | None = None  # the same on the completions endpoint, if it differs
    native_n: bool = True  # n > 1 in one request
    prefill: bool = False  # continues a begun assistant message in chat mode
    constraints_need_chat: bool = False  # its constraints are chat-endpoint fields only
    exact_select: bool = False  # scores select options in full (vLLM's prompt_logprobs)
    kv_reuse: bool = True  # the server reuses a cached prompt prefix by default

    def resolve_key(self, given: str | None) -> str | None:
        """The API key: `given`, else the first of `key_env` that is set."""
        return given or _env(self.key_env)

    def resolve_base(self, given: str | None) -> str | None:
        """The server's address: `given`, else `base_env`, else the server's default."""
        return given or _env((self.base_env or "",)) or self.default_base

    def missing(self, key: str | None, base_url: str | None) -> str | None:
        """"api_key" or "base_url" when this server needs one the resolved settings lack
        (OpenAI's own client knows its address), else None."""
        if self.key_required and not key:
            return "api_key"
        if base_url is None and self.name != "openai":
            return "base_url"
        return None


PROFILES: dict[str, ServerProfile] = {
    "openai": ServerProfile("openai", ("OPENAI_API_KEY",), True, None, "OPENAI_BASE_URL",
                            completion_logprobs=5, constraints_need_chat=True),
    "azure": ServerProfile("azure", ("AZURE_OPENAI_API_KEY", "OPENAI_API_KEY"), True, None,
                           "AZURE_OPENAI_ENDPOINT", completion_logprobs=5,
                           constraints_need_chat=True),
    # vLLM's OpenAI API takes at most 4 stop strings, as OpenAI's does (a 400 beyond that).
    "vllm": ServerProfile("vllm", ("VLLM_API_KEY",), False, None, "VLLM_BASE_URL",
                          prefill=True, exact_select=True),
    "friendli": ServerProfile("friendli", ("FRIENDLI_TOKEN",), True,
                              "https://api.friendli.ai/serverless/v1", max_stops=16,
                              constraints_need_chat=True, kv_reuse=False),
    "llamacpp": ServerProfile("llamacpp", ("LLAMA_API_KEY",), False, None, "LLAMA_BASE_URL",
                              max_stops=64, top_logprobs=50, native_n=False, prefill=True),
}

_CHAT_PREFIXES = ("gpt-3.5-turbo", "gpt-4", "gpt-5", "chatgpt", "o1", "o3", "o4")


def default_chat_mode(model: str, server: str) -> bool:
    """0.0.64's rule for OpenAI model names; other servers: chat when the name says so."""
    name = model.lower().rsplit("/", 1)[-1]
    if server in ("openai", "azure"):
        return name.startswith(_CHAT_PREFIXES) and "instruct" not in name
    return any(word in name for word in ("chat", "-it", "instruct"))


_CONSTRAINT_HINT = ("use a server with that constraint (llama.cpp or vLLM take pattern=, "
                    "json_schema= and grammar=) or a local model")


def _env(names: tuple[str, ...]) -> str | None:
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def server_capabilities(
    profile: ServerProfile, chat: bool, roles: bool = True, prompt_cache: bool = True,
    select_method: str = "auto",
) -> Capabilities:
    """What a model behind this server can do on the chat (`chat`) or completions endpoint;
    `roles`: the backend can render role blocks there (on completions: a chat template)."""
    kinds = DIALECTS[profile.name]
    hint = _CONSTRAINT_HINT
    if profile.constraints_need_chat and not chat:
        kinds = frozenset()
        hint = (f"api_type={profile.name!r} takes constraints on the chat endpoint only "
                f"(response_format) and this model runs in completion mode (chat_mode=False); "
                f"pass chat_mode=True, or {_CONSTRAINT_HINT}")
    logprobs = profile.top_logprobs if chat else \
        (profile.completion_logprobs or profile.top_logprobs)
    return Capabilities(
        name=f"an api_type={profile.name!r} server",
        roles=roles or chat, chat_api=chat, prefill=profile.prefill or not chat,
        server_stops=profile.max_stops, max_n=None if profile.native_n else 1,
        top_logprobs=logprobs, logits=False,
        exact_select=profile.exact_select and select_method != "constraint",
        constraint_kinds=kinds | {"stop_regex"}, dialect=profile.name, constraint_hint=hint,
        healing=False,
        kv_reuse=profile.kv_reuse and (prompt_cache or profile.name != "llamacpp"),
    )
