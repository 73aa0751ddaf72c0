"""`select` on an OpenAI-style server: score options from top logprobs, or constrain the choice.

On vLLM every option is first scored exactly from `prompt_logprobs` (`openai_exact.py`, one
batched request). Otherwise scoring walks the options as text. At each point (the prompt plus
an option prefix already scored) one request asks for a single token with its top
alternatives; the longest alternative that is the next piece of an option extends that
option's path (options sharing a piece share the request), and one that is the rest of an
option completes it. An option none of whose pieces shows up among the alternatives has no
known score: it is reported missing and the result is marked inexact, as it is when an option
was only covered by longer tokens (their summed probability is an approximation). With
`select_method="constraint"` (or "auto" when scoring left options unknown) the server
generates under a choice constraint instead; then the choice is the server's and no
probabilities are reported::

    {{select 'answer' options=[' yes', ' no']}}   # 1 request when the options differ at once
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Sequence
from typing import Any

from guidance_engine.constraints import ConstraintSpec
from guidance_engine.constraints.dialects import matches, server_constraint
from guidance_engine.errors import ConstraintError, GuidanceError
from guidance_engine.llms.base import GenRequest, SelectRequest, SelectResult
from guidance_engine.llms.openai_exact import score_exact
from guidance_engine.llms.openai_protocols import ServerSession
from guidance_engine.llms.openai_wire import ChoiceState, stream_choices, usage_stats
from guidance_engine.llms.stops import StopScanner

_MAX_STEPS = 64  # deepest option path scored (characters are at least one per token)


async def select(session: ServerSession, request: SelectRequest) -> SelectResult:
    """Choose among `request.options` (see the module docstring)."""
    options = tuple(dict.fromkeys(request.options))
    if not options:
        raise GuidanceError("select needs at least one option; found none")
    llm = session.llm
    method = llm.select_method
    usages: list[dict[str, Any]] = []
    if method != "constraint" and llm.api_type == "vllm":
        exact = await score_exact(session, request, options, usages)
        if exact is not None:
            return _choose(request, options, exact, usages, "prompt_logprobs", True)
    if method != "constraint":
        approximate: set[str] = set()
        scores = await _score(session, request, options, usages, approximate)
        if len(scores) == len(options) or method == "logprobs" or \
                "options" not in llm.capabilities.constraint_kinds:
            return _choose(request, options, scores, usages, "logprobs", not approximate)
    return await _constrained(session, request, options, usages)


def _choose(
    request: SelectRequest, options: Sequence[str], scores: dict[str, float],
    usages: list[dict[str, Any]], method: str, exact: bool,
) -> SelectResult:
    """The choice among the scored options; `exact` says the scores are exact ones."""
    if not scores:
        raise GuidanceError(
            f"select: none of the options {list(options)!r} appears among the server's top "
            f"logprobs, so none can be scored; use select_method='constraint' on a server with "
            f"a choice constraint (llama.cpp, vLLM)")
    total = _logsumexp(list(scores.values()))
    logprobs = {opt: scores[opt] - total for opt in options if opt in scores}
    if request.temperature > 0:
        rng = random.Random(request.seed)
        weights = [math.exp(lp / request.temperature) for lp in logprobs.values()]
        choice = rng.choices(list(logprobs), weights=weights)[0]
    else:
        choice = max(logprobs, key=lambda opt: logprobs[opt])
    return SelectResult(choice, logprobs, usage_stats(usages), method=method,
                        exact=exact and len(logprobs) == len(options))


async def _score(
    session: ServerSession, request: SelectRequest, options: tuple[str, ...],
    usages: list[dict[str, Any]], approximate: set[str],
) -> dict[str, float]:
    """Log-probability of each option that could be scored (the text walk); options whose
    score is only approximate are added to `approximate`."""
    done: dict[str, float] = {}
    frontier: dict[str, float] = {"": 0.0}  # option prefix scored so far -> its logprob
    for _ in range(_MAX_STEPS):
        if not frontier:
            break
        points = list(frontier.items())
        tops = await asyncio.gather(*(_next_token(session, request, p, usages)
                                      for p, _ in points))
        frontier = {}
        for (prefix, lp), top in zip(points, tops, strict=True):
            _extend(prefix, lp, top, options, done, frontier, approximate)
    return done


def _extend(
    prefix: str, lp: float, top: dict[str, float], options: tuple[str, ...],
    done: dict[str, float], frontier: dict[str, float], approximate: set[str],
) -> None:
    """Fold one point's top tokens into finished options and the next frontier.

    Each option follows one path, its likely tokenization: the token equal to the rest of the
    option finishes it (else tokens that cover the rest and go on, summed: only an approximate
    score); otherwise the longest token that starts the rest leads to the next point.
    """
    for option in options:
        if not option.startswith(prefix) or option == prefix:
            continue
        rest = option[len(prefix):]
        if rest in top:
            done[option] = lp + top[rest]
            continue
        covering = [v for t, v in top.items() if t.startswith(rest)]
        if covering:
            done[option] = lp + _logsumexp(covering)
            approximate.add(option)
            continue
        starts = [t for t in top if t and rest.startswith(t)]
        if starts:
            token = max(starts, key=len)
            frontier[prefix + token] = lp + top[token]


def _add(a: float | None, b: float) -> float:
    return b if a is None else _logsumexp([a, b])


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values))


async def _next_token(
    session: ServerSession, request: SelectRequest, prefix: str, usages: list[dict[str, Any]],
) -> dict[str, float]:
    """The server's top alternatives for the token after the prompt + `prefix`."""
    llm = session.llm
    body = llm.body(request, prefix)
    params: dict[str, Any] = {"model": llm.model, **body, "max_tokens": 1, "temperature": 0.0,
                              "stream": True, "stream_options": {"include_usage": True}}
    if llm.capabilities.chat_api:
        params.update(logprobs=True, top_logprobs=llm.capabilities.top_logprobs)
    else:
        params["logprobs"] = llm.capabilities.top_logprobs
    if session.server_fields():
        params["extra_body"] = {**params.get("extra_body", {}), **session.server_fields()}
    if session.headers():
        params["extra_headers"] = session.headers()
    choice = ChoiceState(0, StopScanner())
    endpoint = llm.endpoint()

    def create() -> Any:
        session.requests += 1
        return endpoint.create(**params)

    result = await stream_choices(create, [choice], None, llm.retry, llm.api_type)
    usages.append(result.usage)
    if not choice.logprobs:
        raise GuidanceError(f"select: the {llm.api_type} server returned no logprobs; use "
                            f"select_method='constraint'")
    first = choice.logprobs[0]
    top = dict(first.top) or {first.token: first.logprob}
    top.setdefault(first.token, first.logprob)
    return top


async def _constrained(
    session: ServerSession, request: SelectRequest, options: tuple[str, ...],
    usages: list[dict[str, Any]],
) -> SelectResult:
    """Let the server generate one of the options under a choice constraint."""
    llm = session.llm
    spec = ConstraintSpec(options=options)
    refusal = llm.capabilities.kind_refusal("options")
    if refusal is not None:
        raise ConstraintError(refusal)
    constraint = server_constraint(spec, await llm.dialect(), llm.capabilities.chat_api)
    gen = GenRequest(prompt=request.prompt, segments=request.segments,
                     max_tokens=max(len(o) for o in options) + 1,
                     temperature=request.temperature, seed=request.seed,
                     extra={**request.extra, **constraint})
    result = await session.gen(gen)
    usages.append({"prompt_tokens": result.stats.prompt_tokens,
                   "completion_tokens": result.stats.sampled_tokens,
                   "prompt_tokens_details": {"cached_tokens": result.stats.reused_tokens}})
    text = result.texts[0]
    if text not in options or not matches(spec, text):
        raise ConstraintError(f"the server ignored the choice constraint: it returned {text!r}, "
                              f"which is none of {list(options)!r}")
    return SelectResult(text, {}, usage_stats(usages), method="constraint", exact=False)
