"""Commands that move values rather than text: `set`, `await`, `parse` and `break`.

    {{set 'x' 3}}                      x = 3, nothing emitted (hidden=False emits the value)
    {{set 'answer' (await 'answer')}}  stops the program until it is called with answer=...
    {{parse template_text}}            the only way a string becomes template code
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guidance_engine.llms.arguments import ArgumentError, expect
from guidance_engine.runtime.library.base import BreakLoop, Command, CommandContext, Suspend
from guidance_engine.runtime.scopes import MISSING


async def set_(
    ctx: CommandContext, name: Any, value: Any = MISSING, hidden: bool | None = None
) -> Any:
    """`{{set 'x' value}}` or `{{set {'x': 1, 'y': 2}}}`; emits value(s) only if hidden=False."""
    if value is MISSING:
        if not isinstance(name, Mapping):
            raise ArgumentError(
                "set needs a name and a value, or one dict of names to values; "
                f"found only {type(name).__name__} {name!r}"
            )
        for key, item in name.items():
            expect(key, str, "each key of the set dict")
            ctx.set_variable(key, item)
        return "".join(str(item) for item in name.values()) if hidden is False else None
    expect(name, str, "name")
    ctx.set_variable(name, value)
    return value if hidden is False else None


async def await_(ctx: CommandContext, name: str) -> Any:
    """Return (and consume) variable `name`, or stop the program until it is given."""
    expect(name, str, "name")
    if not ctx.has_variable(name):
        raise Suspend(name)
    return ctx.pop_variable(name)


async def parse(ctx: CommandContext, text: str, name: str | None = None) -> None:
    """Compile `text` as a template and run it here; `name=` also saves the text it produced."""
    expect(text, str, "the template text")
    expect(name, (str, type(None)), "name")
    # Imported here: the runtime depends on the compiler only through this command.
    from guidance_engine.template.compiler import compile_template

    before = len(ctx.prompt())
    await ctx.run_template(compile_template(text, name="<parse>"))
    if name is not None:
        ctx.set_variable(name, ctx.prompt()[before:])


async def break_(ctx: CommandContext) -> None:
    """`{{break}}`: leave the innermost each/geneach loop."""
    raise BreakLoop()


COMMANDS = [
    Command("set", set_),
    Command("await", await_),
    Command("parse", parse),
    Command("break", break_),
]
