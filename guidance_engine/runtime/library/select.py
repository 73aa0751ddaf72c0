"""The `select` command: the model chooses one option; only the chosen option enters the text.

    {{select 'armor' options=armors}}
    {{#select 'armor' logprobs='scores'}}leather{{or}}plate{{/select}}

The block form renders each option's text first (the interpreter does that) and then calls
`choose` like the options= form does.
"""

from __future__ import annotations

from typing import Any

from guidance_engine.llms.arguments import ArgumentError, check_values, expect
from guidance_engine.llms.requests import select_request
from guidance_engine.runtime.library.base import Command, CommandContext


async def select(
    ctx: CommandContext,
    name: str | None = "selected",
    options: Any = None,
    logprobs: str | None = None,
    list_append: bool = False,
    hidden: bool = False,
    temperature: float = 0.0,
    seed: int | None = None,
) -> None:
    """`{{select 'name' options=[...]}}`: choose one option (0.0.64 default name 'selected');
    the most probable one, or one sampled from the options' probabilities when temperature > 0."""
    if options is None:
        raise ArgumentError("select needs options=[...] (or the block form with {{or}})")
    await choose(ctx, options, name, logprobs, list_append, hidden, temperature, seed)


async def choose(
    ctx: CommandContext,
    options: Any,
    name: str | None,
    logprobs: str | None,
    list_append: bool,
    hidden: bool = False,
    temperature: float = 0.0,
    seed: int | None = None,
) -> str:
    """Ask the model to pick among `options`, save the choice (and scores) and emit it."""
    expect(name, (str, type(None)), "name")
    check_values("select", {"logprobs": logprobs})
    request = select_request(ctx.segments(), options, suffix=ctx.site.next_text,
                             temperature=temperature, seed=seed)
    result = await ctx.select(request, name)
    if name is not None:
        if list_append:
            ctx.append_variable(name, result.choice)
        else:
            ctx.set_variable(name, result.choice)
    if logprobs is not None:
        # an option the backend could not score is None (missing), never an invented number
        ctx.set_variable(logprobs, {opt: result.logprobs.get(opt) for opt in request.options})
    if not hidden:
        ctx.append_text(result.choice, "generated", name=name)
    return result.choice


COMMANDS = [Command("select", select)]
