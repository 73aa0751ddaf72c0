"""The `gen` command: one model generation, its stop inference and its captured variables.

    Name: "{{gen 'name'}}"      stop inferred as '"' (the tag sits between quotes)
    {{#user}}{{gen 'q'}}{{/user}}  stop inferred as the role's end markup
    <a>{{gen 'a'}}</a>          stop inferred as the closing tag '</a>'
    A: {{gen 'a'}}\\nB:          no stop inferred (0.0.64 dropped the next-text default)
"""

from __future__ import annotations

import re
from typing import Any

from guidance_engine.llms.arguments import ArgumentError, expect
from guidance_engine.llms.base import LLM, GenResult
from guidance_engine.llms.requests import gen_request
from guidance_engine.runtime.library.base import Command, CommandContext
from guidance_engine.template.instructions import CallSite


async def gen(
    ctx: CommandContext,
    name: str | None = None,
    stop: Any = None,
    stop_regex: Any = None,
    save_stop_text: bool | str = False,
    max_tokens: int | None = 500,
    n: int = 1,
    temperature: float = 0.0,
    top_p: float = 1.0,
    logprobs: int | None = None,
    pattern: str | None = None,
    hidden: bool = False,
    list_append: bool = False,
    save_prompt: bool | str = False,
    token_healing: bool | None = None,
    json_schema: Any = None,
    grammar: str | None = None,
    seed: int | None = None,
    allow_partial: bool = False,
    stream: bool | None = None,
    **llm_kwargs: Any,
) -> None:
    """Generate text after the prompt so far, emit it (unless hidden) and save it as `name`.

    `stream` is accepted for 0.0.64 programs; streaming is chosen per program (`stream=True` on
    the call). Other keywords go to the model if it declares them (`LLM.sampling_kwargs`).
    """
    expect(name, (str, type(None)), "name")
    for flag, what in ((save_stop_text, "save_stop_text"), (save_prompt, "save_prompt")):
        if flag is True and name is None:
            raise ArgumentError(f"{what}=True needs a name for gen (or give the variable "
                                f"name: {what}='var')")
    request = gen_request(
        ctx.segments(),
        ctx.llm,
        stop=stop if stop is not None else infer_stop(ctx.site, ctx.llm),
        stop_regex=stop_regex,
        save_stop_text=bool(save_stop_text),
        max_tokens=max_tokens,
        n=n,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        logprobs=logprobs,
        pattern=pattern,
        json_schema=json_schema,
        grammar=grammar,
        allow_partial=allow_partial,
        token_healing=token_healing,
        extra=llm_kwargs,
        name=name,
        turn_continues=ctx.site.role is not None and bool(ctx.site.next_text.strip()),
    )
    result = await ctx.gen(request, name, stream=not hidden, list_append=list_append)
    _save(ctx, name, result, n, list_append, save_stop_text, save_prompt, request.prompt)
    if not hidden:
        ctx.append_text(result.texts[0], "generated", name=name)


def _save(
    ctx: CommandContext,
    name: str | None,
    result: GenResult,
    n: int,
    list_append: bool,
    save_stop_text: bool | str,
    save_prompt: bool | str,
    prompt: str,
) -> None:
    def pick(values: tuple[Any, ...]) -> Any:
        return values[0] if n == 1 else list(values)

    if name is not None:
        value = pick(result.texts)
        if list_append:
            ctx.append_variable(name, value)
        else:
            ctx.set_variable(name, value)
    if save_stop_text:
        target = save_stop_text if isinstance(save_stop_text, str) else f"{name}_stop_text"
        # None when no stop string ended the text (max_tokens, end of text), as in 0.0.64
        ctx.set_variable(target, pick(tuple(text or None for text in result.stop_texts)))
    if save_prompt:
        ctx.set_variable(save_prompt if isinstance(save_prompt, str) else f"{name}_prompt", prompt)
    if name is not None and result.logprobs is not None:
        per_sample = [
            [dict(tok.top) if tok.top else {tok.token: tok.logprob} for tok in sample]
            for sample in result.logprobs
        ]
        ctx.set_variable(f"{name}_logprobs", pick(tuple(per_sample)))


_CLOSING_TAG = re.compile(r"</[A-Za-z_][\w.:-]*\s*>")


def infer_stop(site: CallSite, llm: LLM) -> tuple[str, ...]:
    """0.0.64's documented default stop for `gen`: the enclosing quote, else the role's end at
    the end of a role body, else an XML closing tag that starts the next text; else none.

    0.0.64 tried the next fixed text too and dropped it ("too easy to accidentally trigger"),
    so `A: {{gen 'a'}}\\nB:` has no inferred stop here either.

    >>> infer_stop(CallSite(prev_text='x = "', next_text='"\\n'), None)  # doctest: +SKIP
    ('"',)
    """
    enclosing = _enclosing_stop(site, llm)
    if enclosing is not None:
        return enclosing
    tag = _CLOSING_TAG.match(site.next_text)
    return (tag.group(0),) if tag else ()


def list_end_stop(site: CallSite, llm: LLM) -> tuple[str, ...]:
    """What ends a `geneach` list when no `stop=` is given: the enclosing quote or role end,
    else the whole fixed text after the block (0.0.64 asked the model for an end of text
    instead; a list needs some text to choose against)."""
    enclosing = _enclosing_stop(site, llm)
    if enclosing is not None:
        return enclosing
    return (site.next_text,) if site.next_text else ()


def _enclosing_stop(site: CallSite, llm: LLM) -> tuple[str, ...] | None:
    for quote in ("'''", '"""', "```", '"', "'", "`"):  # longest first, as 0.0.64 did
        if site.prev_text.endswith(quote) and site.next_text.startswith(quote):
            return (quote,)
    if site.at_body_end and site.role is not None:
        end = llm.role_end(site.role).strip()
        return (end,) if end else ()
    return None


COMMANDS = [Command("gen", gen)]
