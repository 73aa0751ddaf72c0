"""Reading the JSON files a user hands to the LLMCompiler (benchmark data, docstores, stores).

Every failure is a `GuidanceError` that names the file and, for a syntax error, the line and
column, so a truncated or hand-edited file is reported where it is broken::

    >>> read_json("docs.json", "a docstore")                      # doctest: +SKIP
    GuidanceError: docs.json is not valid JSON (a docstore expected): Expecting ',' delimiter at
    line 2, column 1
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from guidance_engine.errors import GuidanceError


def read_json(path: str | Path, what: str) -> Any:
    """The parsed content of `path`; `what` says what the file should be, for the message."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise GuidanceError(
            f"{path} is not valid JSON ({what} expected): {error.msg.removesuffix(' at')} at "
            f"line {error.lineno}, column {error.colno}"
        ) from None
    except UnicodeDecodeError as error:
        raise GuidanceError(f"{path} is not UTF-8 text ({what} expected): {error}") from None
    except OSError as error:
        raise GuidanceError(f"cannot read {what} from {path}: {error.strerror or error}") from None


def records(data: Any, path: str | Path, fields: Sequence[str]) -> list[dict[str, Any]]:
    """`data` as a list of objects that each have `fields`; the error names the first bad one."""
    shape = "{" + ", ".join(repr(name) for name in fields) + "}"
    if not isinstance(data, list):
        raise GuidanceError(f"{path}: expected a JSON list of {shape} records; "
                            f"found a JSON {json_kind(data)}")
    for position, record in enumerate(data):
        if not isinstance(record, dict):
            raise GuidanceError(f"{path}: record {position} is a JSON {json_kind(record)}; "
                                f"expected a {shape} object")
        missing = [name for name in fields if name not in record]
        if missing:
            raise GuidanceError(f"{path}: record {position} lacks {', '.join(map(repr, missing))}"
                                f"; expected a {shape} object")
    return data


def json_kind(value: Any) -> str:
    """How JSON calls the type of a parsed value: `object`, `list`, `string`, `number`, ..."""
    names = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number",
             float: "number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
