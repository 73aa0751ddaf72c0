"""The 0.0.64 low-level model API on top of `Session`: call a session (or the model, for one
call) with a prompt, get an OpenAI-style completion dict back. Every backend's model is a
`ClassicLLM` and its sessions are `ClassicSession`s.

    with llm.session() as s:
        out = s("Name:", max_tokens=5, stop="\\n")
    out["choices"][0]["text"]            # ' Bob'

    async with llm.session(asynchronous=True) as s:
        out = await s("Name:", max_tokens=5)

A synchronous session runs its calls on a private event loop in a helper thread
(`guidance_engine.bridge.LoopThread`), so it works the same in a script and inside Jupyter
(where a loop is already running), and the backend's session state (KV cache, worker thread)
lives on one loop for the session's whole life.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, TypeVar

from guidance_engine.bridge import LoopThread
from guidance_engine.errors import GuidanceError
from guidance_engine.llms.arguments import ArgumentError, check_keywords
from guidance_engine.llms.base import LLM, GenRequest, GenResult, Session
from guidance_engine.llms.requests import gen_request

_T = TypeVar("_T")
DEFAULT_MAX_TOKENS = 1000  # 0.0.64's default for a direct call
# Accepted for 0.0.64 programs and ignored: its disk cache of completions is not part of this
# engine (local models keep a KV cache instead).
_IGNORED = frozenset({"cache_seed", "caching"})
_KNOWN = ("stop", "stop_regex", "temperature", "n", "max_tokens", "logprobs", "top_p", "pattern",
          "token_healing", "seed", "stream", *sorted(_IGNORED))
_FINISH = {"stop": "stop", "length": "length", "eos": "stop", "constraint": "stop"}


def classic_request(session: Session, prompt: str, options: Mapping[str, Any]) -> GenRequest:
    """The checked GenRequest of a 0.0.64 call `session(prompt, **options)`, made by the request
    builder; unknown keywords (other than the model's `sampling_kwargs`) are refused with a
    did-you-mean, and a bad value names its argument."""
    if not isinstance(prompt, str):
        raise GuidanceError(f"the prompt must be a string; found {type(prompt).__name__}")
    llm = getattr(session, "llm", None)
    accepted: frozenset[str] = getattr(llm, "sampling_kwargs", frozenset())
    check_keywords(options, _KNOWN, accepted, where=" to the session call")
    if options.get("stream"):
        raise GuidanceError("stream=True is not supported on a session call; run a program "
                            "with stream=True to stream")
    known = {key: value for key, value in options.items()
             if key in _KNOWN and key not in _IGNORED and key != "stream"}
    known.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
    if known.get("temperature") is None:
        known["temperature"] = 0.0  # 0.0.64 passed temperature=None for "the default"
    extra = {key: value for key, value in options.items() if key in accepted}
    try:
        return gen_request(prompt, llm, extra=extra, **known)
    except ArgumentError as exc:
        raise ArgumentError(f"bad argument to the session call: {exc}", exc.argument) from exc


def classic_result(result: GenResult) -> dict[str, Any]:
    """0.0.64's completion shape (OpenAI style): one entry of `choices` per sample."""
    choices = []
    for i, text in enumerate(result.texts):
        logprobs = None
        if result.logprobs is not None:
            tokens = result.logprobs[i]
            logprobs = {
                "tokens": [t.token for t in tokens],
                "token_logprobs": [t.logprob for t in tokens],
                "top_logprobs": [dict(t.top) for t in tokens],
            }
        choices.append({
            "index": i,
            "text": text,
            "finish_reason": _FINISH.get(result.finish_reasons[i], result.finish_reasons[i]),
            "stop_text": result.stop_texts[i] or None,
            "logprobs": logprobs,
        })
    stats = result.stats  # completion tokens include one re-producing a healed prompt end
    usage = {"prompt_tokens": stats.prompt_tokens,
             "completion_tokens": stats.sampled_tokens + stats.forced_tokens}
    return {"choices": choices, "usage": usage}


class ClassicSession(Session):
    """A session with 0.0.64's call API: a context manager, and callable with a prompt,
    returning an OpenAI-style completion dict (an awaitable one when opened with
    `llm.session(asynchronous=True)`)::

        with llm.session() as s:
            s("Name:", max_tokens=5)["choices"][0]["text"]
    """

    asynchronous: bool = False  # set by `llm.session(asynchronous=True)`
    _loop_thread: LoopThread | None = None  # the private event loop of a sync session's calls

    def __call__(self, prompt: str, **options: Any) -> Any:
        """`s("prompt", max_tokens=5, stop="\\n", temperature=0.7, n=2, logprobs=3, ...)`."""
        request = classic_request(self, prompt, options)

        async def call() -> dict[str, Any]:
            return classic_result(await self.gen(request))

        if self.asynchronous:
            return call()
        if self._loop_thread is None:
            self._loop_thread = LoopThread()
        return self._loop_thread.run(call())

    def __exit__(self, *exc_info: object) -> None:
        super().__exit__(*exc_info)
        if self._loop_thread is not None:
            self._loop_thread.stop()
            self._loop_thread = None


class ClassicLLM(LLM):
    """A backend with 0.0.64's one-off call: `llm("Name:", max_tokens=5)` opens a session,
    calls it and closes it (with `asynchronous=True`, an awaitable of the result)."""

    #: 0.0.64's chat programs open with `{{#system~}}{{llm.default_system_prompt}}{{~/system}}`.
    default_system_prompt = "You are a helpful assistant."

    @abstractmethod
    def session(self, asynchronous: bool = False) -> ClassicSession:
        """A new session (see `LLM.session`), callable with a prompt."""

    def __call__(self, prompt: str, asynchronous: bool = False, **options: Any) -> Any:
        if asynchronous:
            return self._call_async(prompt, options)
        session = self.session()
        with session:
            return session(prompt, **options)

    async def _call_async(self, prompt: str, options: dict[str, Any]) -> Any:
        session = self.session(asynchronous=True)
        async with session:
            return await session(prompt, **options)
