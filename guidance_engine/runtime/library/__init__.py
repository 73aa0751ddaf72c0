"""Built-in commands and helpers, one module per family, gathered into one name table.

`builtins()` is the last scope of every lookup: a program variable with the same name wins.
"""

from __future__ import annotations

from typing import Any

from guidance_engine.runtime.library import gen, select, variables
from guidance_engine.runtime.library.base import Command
from guidance_engine.runtime.library.helpers import HELPERS


def builtins() -> dict[str, Any]:
    """A fresh name table: commands (`gen`, `select`, `set`, ...) and helper functions."""
    table: dict[str, Any] = dict(HELPERS)
    commands: list[Command] = [*gen.COMMANDS, *select.COMMANDS, *variables.COMMANDS]
    table.update({command.name: command for command in commands})
    return table
