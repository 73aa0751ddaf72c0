"""One streamed request to an OpenAI-style server: retries, stop handling, chunks, usage.

`stream_choices` sends one completion or chat request with `stream=True` and folds the server-
sent events into per-choice results. Text reaches `on_chunk` as it arrives, minus any tail that
could still be a stop string (`stops.StopScanner`). Rate limits (429, honouring Retry-After),
5xx, timeouts, dropped connections, streams that end without a finish reason and malformed JSON
are retried with exponential backoff and jitter; a retry shows only text beyond what was already
shown (and fails loudly if the server now says something else). Other statuses raise
`ModelAPIError` with the server's message.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from guidance_engine.errors import ModelAPIError
from guidance_engine.llms.base import ChunkCallback, GenStats, TokenLogprob
from guidance_engine.llms.stops import StopScanner

_RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """`max_retries` further attempts after the first; delay doubles from `base` up to `cap`."""

    max_retries: int = 5
    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry `attempt` (1-based): Retry-After if the server set it,
        else full jitter over the exponential backoff."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap)
        return random.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))


class _Retryable(Exception):
    def __init__(self, message: str, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.retry_after = status, retry_after


@dataclass
class ChoiceState:
    """One choice (sample) of a streamed request."""

    sample: int  # the sample index reported to on_chunk
    scanner: StopScanner
    prefill: str = ""  # chat prefill the server may echo at the start of its content
    raw: str = ""  # content received in this attempt (prefill echo removed)
    shown: str = ""  # text given to on_chunk so far, over all attempts
    finish: str | None = None
    logprobs: list[TokenLogprob] = field(default_factory=list)
    _echo_checked: bool = False

    def reset(self) -> None:
        self.scanner = StopScanner(self.scanner.stop, self.scanner.stop_regex)
        self.raw, self.finish, self.logprobs, self._echo_checked = "", None, [], False

    def add(self, delta: str, on_chunk: ChunkCallback | None) -> None:
        if not self._echo_checked:
            pending = self.raw + delta
            if self.prefill and self.prefill.startswith(pending):
                self.raw = pending  # still could be the echoed prefill
                return
            self._echo_checked = True
            delta = pending[len(self.prefill):] if self.prefill and \
                pending.startswith(self.prefill) else pending
            self.raw = ""
        self.raw += delta
        self._show(self.scanner.feed(delta), on_chunk)

    def end(self, on_chunk: ChunkCallback | None) -> None:
        if not self._echo_checked:  # the whole answer was a prefix of the prefill
            self._echo_checked = True
            text, self.raw = self.raw, ""
            self.add(text, on_chunk)
        self._show(self.scanner.finish(), on_chunk)

    def _show(self, released: str, on_chunk: ChunkCallback | None) -> None:
        if not released:
            return
        visible = self.scanner.text[: self.scanner.emitted]
        if len(visible) <= len(self.shown):
            if not self.shown.startswith(visible):
                raise _diverged(self.shown, visible)
            return
        if not visible.startswith(self.shown):
            raise _diverged(self.shown, visible)
        new, self.shown = visible[len(self.shown):], visible
        if on_chunk is not None:
            on_chunk(self.sample, new)


def _diverged(shown: str, now: str) -> ModelAPIError:
    return ModelAPIError(
        f"the stream was cut and the retried request produced different text ({now[-40:]!r} "
        f"after {shown[-40:]!r} was already shown); use temperature=0 or a seed for retries "
        f"that repeat themselves"
    )


@dataclass
class StreamResult:
    choices: list[ChoiceState]
    usage: dict[str, Any]


async def stream_choices(
    create: Callable[[], Awaitable[Any]],
    choices: list[ChoiceState],
    on_chunk: ChunkCallback | None,
    policy: RetryPolicy,
    server: str,
) -> StreamResult:
    """Run `create()` (returns an async stream of chunks) with retries; fills `choices`."""

    def reset() -> None:
        for choice in choices:
            choice.reset()

    result: StreamResult = await with_retries(
        lambda: _attempt(create, choices, on_chunk), policy, server, reset)
    return result


async def with_retries(
    attempt_once: Callable[[], Awaitable[Any]], policy: RetryPolicy, server: str,
    before_retry: Callable[[], None] | None = None,
) -> Any:
    """`await attempt_once()`, retrying what `_classify` calls retryable (see the module doc);
    also for requests that are not streamed (vLLM's prompt_logprobs)."""
    attempt = 0
    while True:
        try:
            return await attempt_once()
        except ModelAPIError:
            raise
        except Exception as exc:  # classified below: retried, or raised as ModelAPIError
            retry = _classify(exc, server)
            attempt += 1
            if attempt > policy.max_retries:
                raise ModelAPIError(
                    f"{retry} (gave up after {attempt} attempts)", status=retry.status
                ) from exc
            if before_retry is not None:
                before_retry()
            await asyncio.sleep(policy.delay(attempt, retry.retry_after))


async def _attempt(
    create: Callable[[], Awaitable[Any]], choices: list[ChoiceState],
    on_chunk: ChunkCallback | None,
) -> StreamResult:
    stream = await create()
    usage: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    by_index = {i: c for i, c in enumerate(choices)}
    try:
        async for chunk in stream:
            data = chunk.model_dump() if hasattr(chunk, "model_dump") else dict(chunk)
            if data.get("usage"):
                usage = data["usage"]
            for key in ("timings", "truncated"):  # llama.cpp's own report (llamacpp_checks)
                if data.get(key) is not None:
                    extra[key] = data[key]
            for part in data.get("choices") or ():
                choice = by_index.get(int(part.get("index") or 0))
                if choice is not None:
                    _apply(choice, part, on_chunk)
            # After a client-side stop (stop_regex, a long stop list) the stream is read to
            # its end anyway: only its last event reports the token usage.
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            await close()
    cut = [i for i, c in enumerate(choices) if c.finish is None and not c.scanner.stopped]
    if cut:
        raise _Retryable(f"the {_plural(len(cut), 'stream')} ended without a finish reason "
                         f"(connection cut mid-answer)")
    for choice in choices:
        choice.end(on_chunk)
    return StreamResult(choices, {**usage, **extra} if usage else usage)


def _plural(n: int, word: str) -> str:
    return word if n == 1 else f"{n} {word}s"


def _apply(choice: ChoiceState, part: dict[str, Any], on_chunk: ChunkCallback | None) -> None:
    delta = part.get("delta")
    text = (delta or {}).get("content") if delta is not None else part.get("text")
    if text and not choice.scanner.stopped:
        choice.add(str(text), on_chunk)
    if part.get("logprobs") and not choice.scanner.stopped:
        choice.logprobs.extend(token_logprobs(part["logprobs"]))
    if part.get("finish_reason"):
        choice.finish = str(part["finish_reason"])


def token_logprobs(data: Any) -> list[TokenLogprob]:
    """Tokens from either logprobs layout: chat (`content[]`, also llama.cpp's completions) or
    legacy completions (`tokens`, `token_logprobs`, `top_logprobs`)."""
    if hasattr(data, "model_dump"):
        data = data.model_dump()
    out: list[TokenLogprob] = []
    for item in data.get("content") or ():
        top = tuple((str(t["token"]), float(t["logprob"])) for t in item.get("top_logprobs") or ())
        out.append(TokenLogprob(str(item["token"]), float(item["logprob"]), top))
    if out:
        return out
    tokens, values = data.get("tokens") or (), data.get("token_logprobs") or ()
    tops: Sequence[Any] = data.get("top_logprobs") or [None] * len(tokens)
    for token, value, top in zip(tokens, values, tops, strict=False):
        alts = tuple((str(k), float(v)) for k, v in (top or {}).items())
        out.append(TokenLogprob(str(token), float(value), alts))
    return out


def _classify(exc: Exception, server: str) -> _Retryable:
    """A retryable failure, or raise `ModelAPIError` for one that retrying cannot fix."""
    import openai

    if isinstance(exc, _Retryable):
        return exc
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = f"the {server} server answered {status}: {_server_message(exc)}"
        if status not in _RETRY_STATUSES:
            raise ModelAPIError(message, status=status) from exc
        return _Retryable(message, status, _retry_after(exc))
    if isinstance(exc, openai.APITimeoutError):
        return _Retryable(f"the {server} server did not answer in time (timeout)")
    if isinstance(exc, openai.APIConnectionError):
        return _Retryable(f"could not reach the {server} server: {exc.__cause__ or exc}")
    if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError):
        return _Retryable(f"the {server} server sent malformed JSON: {exc}")
    if type(exc).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore", "httpcore2"):
        return _Retryable(f"the connection to the {server} server failed: "
                          f"{type(exc).__name__}: {exc}")
    raise exc


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return str(getattr(exc, "message", exc))


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def usage_stats(usages: list[dict[str, Any]]) -> GenStats:
    """GenStats from the servers' `usage` objects (summed over concurrent requests)."""
    prompt = sum(int(u.get("prompt_tokens") or 0) for u in usages)
    completion = sum(int(u.get("completion_tokens") or 0) for u in usages)
    cached = sum(int((u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
                 for u in usages)
    return GenStats(prompt_tokens=prompt, fed_tokens=prompt - cached, reused_tokens=cached,
                    sampled_tokens=completion)
