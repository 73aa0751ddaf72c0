"""The request builder: the one way a `GenRequest` or `SelectRequest` is made from user arguments.

`gen`, `select`, the loops (`geneach`) and the 0.0.64 session call all hand their arguments and
the structured prompt here and get back a complete request, already checked: argument types and
ranges (each error names the argument), the model's extra keywords, stop lists, the JSON schema
(a dict, a JSON string or a pydantic class), and the constraints against the model
(`LLM.validate_request`). Nothing patches a request afterwards::

    request = gen_request((Segment("Name: "),), llm, stop="\\n", max_tokens=5)
    request.prompt, request.stop          # ('Name: ', ('\\n',))
    gen_request("Name:", llm, top_p=0)     # ArgumentError: top_p must be a number > 0 and <= 1 ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guidance_engine.errors import ConstraintError
from guidance_engine.llms.arguments import (
    ArgumentError,
    as_strings,
    check_keywords,
    check_values,
    expect,
)
from guidance_engine.llms.base import LLM, GenRequest, Segment, SelectRequest

#: A prompt as the builder takes it: the structured segments, or plain text (one template run).
PromptText = str | tuple[Segment, ...]


def gen_request(
    prompt: PromptText,
    llm: LLM | None,
    *,
    stop: Any = None,
    stop_regex: Any = None,
    save_stop_text: bool = False,
    max_tokens: Any = None,
    n: Any = 1,
    temperature: Any = 0.0,
    top_p: Any = 1.0,
    seed: Any = None,
    logprobs: Any = None,
    pattern: Any = None,
    json_schema: Any = None,
    grammar: Any = None,
    allow_partial: bool = False,
    token_healing: bool | None = None,
    extra: Mapping[str, Any] | None = None,
    name: str | None = None,
    turn_continues: bool = False,
) -> GenRequest:
    """A checked `GenRequest` for a generation after `prompt` on `llm` (None: no model at hand,
    so neither its extra keywords nor its constraint support are checked).

    Raises `ArgumentError` (naming the argument) or `ConstraintError` before any model call.
    """
    extra = dict(extra or {})
    check_keywords(extra, (), llm.sampling_kwargs if llm is not None else ())
    check_values("gen", {"n": n, "max_tokens": max_tokens, "temperature": temperature,
                         "top_p": top_p, "logprobs": logprobs, "seed": seed, **extra})
    expect(pattern, (str, type(None)), "pattern")
    expect(grammar, (str, type(None)), "grammar")
    text, segments = _split(prompt)
    request = GenRequest(
        prompt=text, segments=segments, name=name, turn_continues=turn_continues,
        # sampling
        max_tokens=max_tokens, n=n, seed=seed, logprobs=logprobs, extra=extra,
        temperature=float(temperature), top_p=float(top_p), token_healing=token_healing,
        # stops and constraints
        stop=as_strings(stop, "stop"), stop_regex=as_strings(stop_regex, "stop_regex"),
        save_stop_text=save_stop_text, allow_partial=allow_partial, pattern=pattern,
        grammar=grammar, json_schema=json_schema_argument(json_schema),
    )
    if llm is not None:
        llm.validate_request(request)
    return request


def select_request(
    prompt: PromptText,
    options: Any,
    *,
    suffix: str = "",
    temperature: Any = 0.0,
    seed: Any = None,
) -> SelectRequest:
    """A checked `SelectRequest`: `options` a non-empty list of strings, a repeated option kept
    once (it would take two shares of the probability)."""
    if not isinstance(options, list | tuple) or not all(isinstance(o, str) for o in options):
        raise ArgumentError(
            f"options must be a list of strings; found {type(options).__name__} {options!r}",
            argument="options",
        )
    if not options:
        raise ArgumentError("select needs at least one option; found none", argument="options")
    check_values("select", {"temperature": temperature, "seed": seed})
    text, segments = _split(prompt)
    return SelectRequest(prompt=text, options=tuple(dict.fromkeys(options)), suffix=suffix,
                         temperature=float(temperature), seed=seed, segments=segments)


def json_schema_argument(schema: Any) -> Mapping[str, Any] | None:
    """The `json_schema=` argument as a schema dict (None stays None); its error names it."""
    if schema is None:
        return None
    # Imported here: the constraint engine loads only for a program that uses a schema.
    from guidance_engine.constraints.spec import schema_dict

    try:
        return schema_dict(schema)
    except ConstraintError as exc:
        raise ArgumentError(exc.message, argument="json_schema") from exc


def _split(prompt: PromptText) -> tuple[str, tuple[Segment, ...]]:
    """The prompt's text and its segments (plain text: no segments, one template run)."""
    if isinstance(prompt, str):
        return prompt, ()
    return "".join(segment.text for segment in prompt), prompt
