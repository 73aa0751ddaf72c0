"""Chat roles: derive each role's opening and closing markup from a tokenizer's chat template.

A chat template renders whole conversations, but a `{{#user}}...{{/user}}` block needs the text
before and after one message. We render a conversation with a sentinel as the message content
and cut around it; rendering it after a fixed system message and removing that prefix keeps
templates that inject a default system prompt (SmolLM2 does) from leaking it into every block.

    >>> markup = RoleMarkup.from_template(tok.chat_template)   # SmolLM2 (ChatML)
    >>> markup.start("user"), markup.end("user")
    ('<|im_start|>user\\n', '<|im_end|>')

The closing markup stops at the end token: the newlines a chat template puts between turns are
left to the template text, as in Guidance 0.0.64, whose chat templates write them between
`{{/system}}` and `{{#user}}` themselves (a trailing newline here would double them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from guidance_engine.errors import ModelError

_SENTINEL = "\x00ROLE-CONTENT\x00"
_FIRST = "\x00FIRST\x00"


class ChatTemplateError(ModelError):
    """The model has no usable chat template for a role block."""


def _render(template: Any, messages: list[dict[str, str]], special: dict[str, str]) -> str:
    from transformers.utils.chat_template_utils import render_jinja_template

    render: Any = render_jinja_template  # its keyword-only extras (bos_token, ...) are untyped
    rendered, _ = render(
        conversations=[messages], chat_template=template, add_generation_prompt=False, **special
    )
    return str(rendered[0])


def _split_around(text: str, role: str) -> tuple[str, str]:
    if text.count(_SENTINEL) != 1:
        raise ChatTemplateError(
            f"the chat template does not render a '{role}' message's content verbatim; "
            f"pass chat_template= with a template that does"
        )
    before, after = text.split(_SENTINEL)
    return before, after


@dataclass
class RoleMarkup:
    """Opening/closing text per role, computed once per role from a Jinja chat template."""

    template: str
    special: dict[str, str] = field(default_factory=dict)  # bos_token etc. for the template
    _cache: dict[str, tuple[str, str]] = field(default_factory=dict)

    @staticmethod
    def from_template(template: str | None, special: dict[str, str] | None = None) -> RoleMarkup:
        if not template:
            raise ChatTemplateError(
                "this model's tokenizer has no chat template, so role blocks ({{#system}}, "
                "{{#user}}, {{#assistant}}) cannot be rendered; pass chat_template= to "
                "Transformers(...) (a Jinja chat template string, for example ChatML)"
            )
        return RoleMarkup(template, dict(special or {}))

    def _markup(self, role: str) -> tuple[str, str]:
        if role not in self._cache:
            self._cache[role] = self._derive(role)
        return self._cache[role]

    def _derive(self, role: str) -> tuple[str, str]:
        try:
            if role == "system":
                text = _render(self.template, [{"role": role, "content": _SENTINEL}], self.special)
                return _split_around(text, role)
            base = [{"role": "system", "content": _FIRST}]
            head = _render(self.template, base, self.special)
            text = _render(self.template, [*base, {"role": role, "content": _SENTINEL}],
                           self.special)
        except ChatTemplateError:
            raise
        except Exception as exc:  # a template may reject a role (jinja raise_exception)
            raise ChatTemplateError(
                f"the chat template cannot render a '{role}' message: {exc}; pass chat_template= "
                f"with a template that supports this role"
            ) from exc
        before, after = _split_around(text, role)
        # Templates that fold the system text into the next turn (Gemma) do not render `head`
        # as a prefix; then the role markup is whatever follows the system content.
        if before.startswith(head):
            return before[len(head):], after
        if _FIRST in before:
            return before.split(_FIRST, 1)[1].lstrip("\n"), after
        return before, after

    def start(self, role: str) -> str:
        return self._markup(role)[0]

    def end(self, role: str) -> str:
        end = self._markup(role)[1]
        stripped = end.rstrip("\n")
        return stripped if stripped.strip() else end  # keep an end that is only whitespace
