"""Chat messages from a structured prompt: one message per role block, markup dropped.

A chat API takes messages, not text, so the template's role blocks become messages and the
text between blocks must be whitespace. The gen runs as the assistant's turn: the last message is
the open `{{#assistant}}` block, and text already written inside it is a *prefill* that the
server continues (llama.cpp and vLLM can; the OpenAI API cannot)::

    >>> chat_messages((Segment("<|im_start|>user\\n", "markup", "user"),
    ...                Segment("Hi", "template", "user"), Segment("<|im_end|>", "markup", "user"),
    ...                Segment("\\n"), Segment("<|im_start|>assistant\\n", "markup", "assistant")))
    ChatPrompt(messages=({'role': 'user', 'content': 'Hi'},), prefill='')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from guidance_engine.errors import GuidanceError
from guidance_engine.llms.base import Segment


class ChatShapeError(GuidanceError):
    """The template cannot run on a chat API as written (the interpreter adds the position)."""


@dataclass(frozen=True)
class ChatPrompt:
    """Messages for the API; `prefill` is the open assistant turn's text so far (may be "")."""

    messages: tuple[dict[str, str], ...]
    prefill: str = ""


@dataclass
class _Message:
    role: str
    parts: list[str] = field(default_factory=list)
    closed: bool = False


def _group(segments: Sequence[Segment]) -> list[_Message]:
    """Messages in order. A markup segment opens a message unless it closes the open one."""
    messages: list[_Message] = []
    for seg in segments:
        if seg.role is None:
            if seg.text.strip():
                raise ChatShapeError(
                    f"text outside a role block cannot be sent to a chat model (found "
                    f"{seg.text.strip()[:40]!r}); put it inside {{{{#system}}}}, {{{{#user}}}} "
                    f"or {{{{#assistant}}}}, or use chat_mode=False"
                )
            continue
        current = messages[-1] if messages else None
        opens = current is None or current.role != seg.role or current.closed
        if seg.kind == "markup":
            if opens:
                messages.append(_Message(seg.role))
            else:
                assert current is not None
                current.closed = True
        elif opens:
            messages.append(_Message(seg.role, [seg.text]))  # a role without markup text
        else:
            assert current is not None
            current.parts.append(seg.text)
    return messages


def chat_messages(segments: Sequence[Segment], allow_prefill: bool = True) -> ChatPrompt:
    """The chat request for a gen or select at the end of `segments`; raises `ChatShapeError`
    when the prompt does not end inside an open assistant turn."""
    messages = _group(segments)
    if not messages or messages[-1].closed or messages[-1].role != "assistant":
        where = f"inside a {{{{#{messages[-1].role}}}}} block" if messages and not \
            messages[-1].closed else "outside any role block"
        raise ChatShapeError(
            f"on a chat model a gen or select must be inside {{{{#assistant}}}}..."
            f"{{{{/assistant}}}} (it is the assistant's turn); this one is {where}; or use "
            f"chat_mode=False"
        )
    last = messages.pop()
    prefill = "".join(last.parts)
    if prefill and not allow_prefill:
        raise ChatShapeError(
            f"this chat API cannot continue an assistant message already begun (found "
            f"{prefill[:40]!r} before the gen inside {{{{#assistant}}}}); start the gen right "
            f"after {{{{#assistant}}}}, or use a server that continues messages (llama.cpp, vLLM)"
        )
    out = tuple({"role": m.role, "content": "".join(m.parts)} for m in messages)
    return ChatPrompt(out, prefill)
