"""A scripted stand-in model for tests and demos: answers come from a string, list or dict.

    >>> llm = Mock({"Name:": "Bob", "": ["30", "31"]})
    >>> llm.next_output("Name: ")      # a key matches the prompt's end (trailing spaces ignored)
    ('Bob', 'stop')
    >>> llm.next_output("Age: "), llm.next_output("Age: "), llm.next_output("Age: ")
    (('30', 'stop'), ('31', 'stop'), ('31', 'stop'))

Output kinds: a string answers every call; a list answers successive calls in turn and then
repeats its last item; a dict maps a suffix of the prompt to a string, a list or a dict
`{"text": ..., "finish_reason": ...}` (the first key that matches wins); `None` answers
"mock output 0", "mock output 1", .... Stop strings, stop regexes and `max_tokens` (counted in
whitespace-led words) cut the text as a model's decoding would. The Mock does not enforce
`pattern`/`json_schema`/`grammar`: it returns its scripted text, so tests decide what it says.
Role markup is ChatML: `<|im_start|>ROLE\\n ... <|im_end|>`.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from guidance_engine.errors import GuidanceError
from guidance_engine.llms.base import (
    LOGITS_PROCESSOR_KWARGS,
    ChunkCallback,
    FinishReason,
    GenRequest,
    GenResult,
    SelectRequest,
    SelectResult,
)
from guidance_engine.llms.capabilities import Capabilities
from guidance_engine.llms.classic import ClassicLLM, ClassicSession
from guidance_engine.llms.stops import cut_at_stop

_WORD = re.compile(r"\s*\S+|\s+")
_FINISH_REASONS = ("stop", "length", "eos", "constraint")

MockOutput = str | Sequence[Any] | Mapping[str, Any] | None


@dataclass
class _Script:
    """One scripted answer source with its own position (a list advances per call)."""

    items: list[Any]
    position: int = 0

    def take(self) -> Any:
        item = self.items[min(self.position, len(self.items) - 1)]
        self.position += 1
        return item


@dataclass
class _Counter:
    value: int = 0


def _script_for(value: Any, where: str) -> _Script:
    if isinstance(value, str | Mapping):
        return _Script([value])
    if isinstance(value, Sequence) and value:
        return _Script(list(value))
    raise GuidanceError(
        f"Mock output {where} must be a string, a non-empty list or a dict; found {value!r}"
    )


class Mock(ClassicLLM):
    """A model whose answers are scripted; see the module docstring for the output kinds."""

    # The Mock stands in for the local model: it accepts (and records) the same sampling keywords
    # and the same requests (every constraint kind and token_healing=True are taken, and its
    # scripted text is returned as it is). It keeps no KV cache.
    sampling_kwargs = LOGITS_PROCESSOR_KWARGS
    capabilities = Capabilities("the Mock", kv_reuse=False)

    def __init__(self, output: MockOutput = None) -> None:
        self.output = output
        self.calls: list[GenRequest | SelectRequest] = []  # every request, in order
        self._counter = _Counter()
        self._default: _Script | None = None
        self._by_suffix: dict[str, _Script] = {}
        if isinstance(output, Mapping):
            for key, value in output.items():
                if not isinstance(key, str):
                    raise GuidanceError(f"Mock output keys must be strings; found {key!r}")
                self._by_suffix[key] = _script_for(value, f"for key {key!r}")
        elif output is not None:
            self._default = _script_for(output, "")

    def __repr__(self) -> str:
        return f"Mock({self.output!r})"

    def session(self, asynchronous: bool = False) -> MockSession:
        session = MockSession(self)
        session.asynchronous = asynchronous
        return session

    def role_start(self, role: str, **kwargs: Any) -> str:
        """ChatML, with a role block's keyword arguments as attributes, as 0.0.64's Mock wrote
        them: `{{#role 'user' name='bob'}}` opens with `<|im_start|>user name="bob"`."""
        attributes = "".join(f' {key}="{value}"' for key, value in kwargs.items())
        return f"<|im_start|>{role}{attributes}\n"

    def role_end(self, role: str) -> str:
        return "<|im_end|>"

    def next_output(self, prompt: str) -> tuple[str, FinishReason]:
        """The scripted text and finish reason for the next call on `prompt`."""
        item = self._pick_script(prompt)
        if isinstance(item, Mapping):
            text = item.get("text", "")
            reason = item.get("finish_reason", "stop")
            if reason not in _FINISH_REASONS:
                raise GuidanceError(
                    f"Mock finish_reason must be one of {_FINISH_REASONS}; found {reason!r}"
                )
            return str(text), reason
        return str(item), "stop"

    def _pick_script(self, prompt: str) -> Any:
        if self._default is not None:
            return self._default.take()
        if self.output is None:
            text = f"mock output {self._counter.value}"
            self._counter.value += 1
            return text
        stripped = prompt.rstrip()
        for key, script in self._by_suffix.items():
            if prompt.endswith(key) or stripped.endswith(key):
                return script.take()
        keys = ", ".join(repr(k) for k in self._by_suffix)
        raise GuidanceError(
            f"Mock has no output for this prompt: no key is a suffix of it (keys: {keys}); "
            f"prompt ends with {prompt[-40:]!r}"
        )


@dataclass
class MockSession(ClassicSession):
    """Answers requests from the Mock's script, streaming word by word."""

    llm: Mock
    closed: bool = field(default=False)

    async def gen(self, request: GenRequest, on_chunk: ChunkCallback | None = None) -> GenResult:
        self.llm.validate_request(request)
        self.llm.calls.append(request)
        texts: list[str] = []
        reasons: list[FinishReason] = []
        stops: list[str] = []
        for index in range(request.n):
            raw, reason = self.llm.next_output(request.prompt)
            text, stop_text, reason = _apply_limits(raw, reason, request)
            if reason == "length":
                _check_not_cut(request, text)
            await _stream(text, index, on_chunk)
            texts.append(text)
            stops.append(stop_text)
            reasons.append(reason)
        return GenResult(tuple(texts), tuple(reasons), tuple(stops))

    async def select(self, request: SelectRequest) -> SelectResult:
        self.llm.calls.append(request)
        raw, _ = self.llm.next_output(request.prompt)
        choice = choose_option(raw, request.options)
        logprobs = {opt: (0.0 if opt == choice else -math.inf) for opt in request.options}
        return SelectResult(choice, logprobs)


def choose_option(text: str, options: Sequence[str]) -> str:
    """The option the mock text starts with (the longest such), else one it names, else the first.

    >>> choose_option("plate armor", ["leather", "plate"])
    'plate'
    """
    if not options:
        raise GuidanceError("select needs at least one option; found none")
    starts = [opt for opt in options if opt and text.startswith(opt)]
    if starts:
        return max(starts, key=len)
    named = [opt for opt in options if opt and opt.strip() and opt.strip() in text]
    return named[0] if named else options[0]


def _apply_limits(
    text: str, reason: FinishReason, request: GenRequest
) -> tuple[str, str, FinishReason]:
    """Cut `text` at the first stop string / stop regex match, then at max_tokens words."""
    stop_text = ""
    cut = cut_at_stop(text, request.stop, request.stop_regex)
    if cut is not None:
        (text, stop_text), reason = cut, "stop"
    if request.max_tokens is not None:
        words = _WORD.findall(text)
        if len(words) > request.max_tokens:
            return "".join(words[: request.max_tokens]), "", "length"
    return text, stop_text, reason


def _check_not_cut(request: GenRequest, text: str) -> None:
    """As on a real backend: a constrained value cut by max_tokens before it is complete is an
    IncompleteOutputError unless `allow_partial=True` (the Mock enforces nothing else)."""
    if request.allow_partial or (request.pattern is None and request.json_schema is None
                                 and request.grammar is None):
        return
    from guidance_engine.constraints import ConstraintSpec
    from guidance_engine.constraints.dialects import check_cut_value

    check_cut_value(ConstraintSpec.for_request(request), text, request.name, allow_partial=False)


async def _stream(text: str, index: int, on_chunk: ChunkCallback | None) -> None:
    for word in _WORD.findall(text):
        if on_chunk is not None:
            on_chunk(index, word)
        await asyncio.sleep(0)  # let concurrent branches interleave, as a real backend would
