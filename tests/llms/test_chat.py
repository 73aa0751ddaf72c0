"""Role markup derived from chat templates (ChatML, a Gemma-style template, none at all)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from guidance_engine.llms.chat import ChatTemplateError, RoleMarkup

NO_TEMPLATE = (
    "this model's tokenizer has no chat template, so role blocks ({{#system}}, {{#user}}, "
    "{{#assistant}}) cannot be rendered; pass chat_template= to Transformers(...) (a Jinja chat "
    "template string, for example ChatML)"
)

# Gemma's shape: no system role of its own (it is folded into the first user turn), 'model'
# instead of 'assistant'.
GEMMA_LIKE = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}"
    "{% set first = m['content'] + '\\n\\n' %}{% else %}"
    "{{ '<start_of_turn>' + ('model' if m['role'] == 'assistant' else m['role']) + '\\n' }}"
    "{% if first is defined and loop.index == 2 %}{{ first }}{% endif %}"
    "{{ m['content'] + '<end_of_turn>\\n' }}{% endif %}{% endfor %}"
)


def test_smollm2_template_gives_chatml(smol_tokenizer: Any) -> None:
    markup = RoleMarkup.from_template(smol_tokenizer.chat_template)
    # SmolLM2's template adds a default system prompt when none is given; it must not leak.
    assert [(markup.start(r), markup.end(r)) for r in ("system", "user", "assistant")] == [
        ("<|im_start|>system\n", "<|im_end|>"),
        ("<|im_start|>user\n", "<|im_end|>"),
        ("<|im_start|>assistant\n", "<|im_end|>"),
    ]


def test_a_template_without_its_own_system_turn() -> None:
    markup = RoleMarkup.from_template(GEMMA_LIKE, {"bos_token": "<bos>"})
    assert markup.start("user") == "<start_of_turn>user\n"
    assert markup.start("assistant") == "<start_of_turn>model\n"
    assert markup.end("assistant") == "<end_of_turn>"


def test_missing_template_names_the_chat_template_argument() -> None:
    with pytest.raises(ChatTemplateError) as err:
        RoleMarkup.from_template(None)
    assert str(err.value) == NO_TEMPLATE


def test_template_that_rejects_a_role() -> None:
    strict = (
        "{% for m in messages %}{% if m['role'] == 'tool' %}{{ raise_exception('no tools') }}"
        "{% endif %}{{ m['content'] }}{% endfor %}"
    )
    with pytest.raises(ChatTemplateError) as err:
        RoleMarkup.from_template(strict).start("tool")
    assert str(err.value) == (
        "the chat template cannot render a 'tool' message: no tools; pass chat_template= with a "
        "template that supports this role"
    )


def test_transformers_without_template_raises_on_role(smol_llm: Any) -> None:
    from guidance_engine.llms.transformers import Transformers

    bare = copy.deepcopy(smol_llm.tokenizer)
    bare.chat_template = None
    llm = Transformers(smol_llm.model, bare)
    with pytest.raises(ChatTemplateError) as err:
        llm.role_start("user")
    assert str(err.value) == NO_TEMPLATE
    fixed = Transformers(smol_llm.model, bare, chat_template=smol_llm.tokenizer.chat_template)
    assert fixed.role_start("user") == "<|im_start|>user\n"
