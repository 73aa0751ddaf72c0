"""What llama.cpp's server reports about a reply, checked: a prompt it did not read whole, or a
generation its context cut short, is an error, never a silent answer.

Every reply of llama.cpp's OpenAI endpoints carries `usage` (prompt, completion and cached
tokens) and `timings` (`cache_n` tokens reused from the slot's KV cache, `prompt_n` tokens
evaluated). The native endpoint adds `truncated`. The checks:

- `truncated` is true: the server cut the prompt to fit its context;
- `cache_n + prompt_n` differs from the prompt's token count: part of the prompt was neither
  reused nor evaluated (dropped or shifted out of the context);
- the reply ended for `length` with fewer tokens than `max_tokens` allowed: the slot's context
  filled up, so the text was cut by the context size, not by the request.

    >>> check_reply({"prompt_tokens": 10, "completion_tokens": 2,
    ...              "timings": {"cache_n": 4, "prompt_n": 6}}, "stop", 50)
"""

from __future__ import annotations

from typing import Any

from guidance_engine.errors import ModelAPIError


def check_reply(usage: dict[str, Any], finish: str | None, max_tokens: int | None) -> None:
    """Raise ModelAPIError when the reply shows a truncated, shifted or context-cut prompt."""
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    if usage.get("truncated"):
        raise ModelAPIError(f"llama.cpp truncated the prompt ({prompt} tokens) to fit its "
                            "context; raise the server's n_ctx or shorten the prompt")
    timings = usage.get("timings") or {}
    if prompt and "cache_n" in timings and "prompt_n" in timings:
        reused, evaluated = int(timings["cache_n"]), int(timings["prompt_n"])
        if reused + evaluated != prompt:
            raise ModelAPIError(
                f"llama.cpp reused {reused} and evaluated {evaluated} of the prompt's {prompt} "
                "tokens: part of the prompt was dropped or shifted out of the context")
    if finish == "length" and max_tokens is not None and completion < max_tokens:
        raise ModelAPIError(
            f"llama.cpp stopped after {completion} of at most {max_tokens} tokens because its "
            f"context is full ({prompt} prompt + {completion} generated tokens); raise the "
            "server's n_ctx (per slot) or shorten the prompt")
