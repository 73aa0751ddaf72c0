"""Which kind of OpenAI-compatible server sits at an address: llama.cpp, vLLM, or unknown.

`OpenAI(model, api_base=URL)` without `api_type` asks the server once: llama.cpp answers
`GET /props` with its settings (`total_slots`, `default_generation_settings`), vLLM answers
`GET /version` with `{"version": "0.32.0"}`. OpenAI's own address is never asked::

    >>> detect_server("http://127.0.0.1:8000/v1").api_type     # a vLLM server there
    'vllm'

What was found is logged (logger `guidance_engine`); a server that answers neither stays
`openai` with a warning that names `api_type=`.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("guidance_engine")


@dataclass(frozen=True)
class Detected:
    """The server kind found at `base_url`, and vLLM's version when it said one."""

    api_type: str
    version: str | None = None
    props: dict[str, Any] | None = None  # llama.cpp's /props, kept for the backend's settings


def server_root(base_url: str) -> str:
    """`http://host:port/v1` -> `http://host:port` (where /props, /version, /health live)."""
    return base_url.rstrip("/").removesuffix("/v1")


def is_openai_itself(base_url: str | None) -> bool:
    """Whether `base_url` is OpenAI's own API (or unset, which means it)."""
    if not base_url:
        return True
    host = urllib.parse.urlsplit(base_url).hostname or ""
    return host == "openai.com" or host.endswith(".openai.com")


def read_json(url: str, timeout: float) -> Any:
    """The JSON body of `GET url`; raises `OSError` (no server, an HTTP error status) or
    `ValueError` (not JSON)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def get_json(url: str, timeout: float) -> Any:
    """The JSON body of `GET url`, or None when there is none (an HTTP error status, no server,
    not JSON)."""
    try:
        return read_json(url, timeout)
    except (OSError, ValueError):
        return None


def vllm_version(base_url: str, timeout: float = 10.0) -> str | None:
    """vLLM's `/version` (e.g. "0.32.0"), or None when the server does not say."""
    body = get_json(f"{server_root(base_url)}/version", timeout)
    version = body.get("version") if isinstance(body, dict) else None
    return str(version) if version is not None else None


def detect_server(base_url: str, timeout: float = 10.0) -> Detected:
    """Ask the server at `base_url` what it is (see the module docstring)."""
    root = server_root(base_url)
    props = get_json(f"{root}/props", timeout)
    if isinstance(props, dict) and ("total_slots" in props or
                                    "default_generation_settings" in props):
        log.info("guidance_engine: %s is a llama.cpp server (api_type='llamacpp')", base_url)
        return Detected("llamacpp", props=props)
    version = vllm_version(base_url, timeout)
    if version is not None:
        log.info("guidance_engine: %s is a vLLM %s server (api_type='vllm')", base_url, version)
        return Detected("vllm", version)
    warnings.warn(
        f"could not tell which server is at {base_url} (no llama.cpp /props, no vLLM /version); "
        f"treating it as api_type='openai', which takes no pattern=, grammar= or choice "
        f"constraints; pass api_type='vllm', 'llamacpp', 'friendli' or 'azure' if it is one",
        stacklevel=3)
    return Detected("openai")
