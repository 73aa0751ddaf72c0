"""The one grammar llama.cpp enforces for a gen: the engine's grammar as a single Lark text.

llama.cpp runs llguidance itself when a request's `grammar` starts with `%llguidance`, but it
takes one Lark text only, where the local backends hand the engine a list of grammars (a Lark
wrapper plus the JSON schema or Lark grammar it references as `@value`). Inlining that
reference as `%json {...}` / `%lark {...}` gives llama.cpp the same grammar the Transformers
backend masks with (`constraints.spec.engine_grammar`): healing prefix, value and stop alike::

    >>> llamacpp_grammar(ConstraintSpec(pattern="[0-9]+", stop=(",",), healing_prefix=" "))
    '%llguidance {}\\nstart: heal value stop?\\nvalue: /[0-9]+/\\nheal: " "\\nstop[capture]: ","'
"""

from __future__ import annotations

import json
from typing import Any

from guidance_engine.constraints.spec import ConstraintSpec, engine_grammar

HEADER = "%llguidance {}\n"


def llamacpp_grammar(spec: ConstraintSpec) -> str | None:
    """llama.cpp's `grammar` field for `spec`; None when there is nothing to enforce."""
    if not spec.constrained and not spec.healing_prefix:
        return None
    grammars: list[dict[str, Any]] = json.loads(engine_grammar(spec))["grammars"]
    first = grammars[0]
    if "lark_grammar" not in first:  # a JSON schema alone
        return HEADER + "start: " + _inline(first)
    lark = str(first["lark_grammar"])
    for sub in grammars[1:]:
        name = str(sub["name"])
        lark = lark.replace(f"{name}: @{name}", f"{name}: {_inline(sub)}", 1)
    return HEADER + lark


def _inline(grammar: dict[str, Any]) -> str:
    """A referenced grammar written in place: `%json {schema}` or `%lark {text}`."""
    if "json_schema" in grammar:
        return "%json " + json.dumps(grammar["json_schema"], ensure_ascii=False)
    return "%lark {\n" + str(grammar["lark_grammar"]) + "\n}"
