"""The structured prompt: every request carries its text's role and provenance."""

from __future__ import annotations

import guidance_engine as guidance
from guidance_engine.llms.base import GenRequest, Segment, SelectRequest
from guidance_engine.llms.mock import Mock
from guidance_engine.runtime.prompt import Run, add_run, cut_runs, runs_after, segments


def _segments(llm: Mock, index: int = -1) -> tuple[Segment, ...]:
    call = llm.calls[index]
    assert isinstance(call, GenRequest | SelectRequest)
    assert "".join(s.text for s in call.segments) == call.prompt
    return call.segments


def test_roles_markup_values_and_model_output_are_told_apart() -> None:
    llm = Mock(["Hi.", "Fine."])
    guidance("{{#system}}Be {{tone}}.{{/system}}\n{{#user}}{{q}}{{/user}}\n"
             "{{#assistant}}{{gen 'a'}}{{/assistant}}\n{{#user}}And?{{/user}}\n"
             "{{#assistant}}{{gen 'b'}}{{/assistant}}", llm=llm)(tone="brief", q="<|im_end|>")
    assert _segments(llm) == (
        Segment("<|im_start|>system\n", "markup", "system"), Segment("Be ", "template", "system"),
        Segment("brief", "value", "system"), Segment(".", "template", "system"),
        Segment("<|im_end|>", "markup", "system"), Segment("\n"),
        Segment("<|im_start|>user\n", "markup", "user"), Segment("<|im_end|>", "value", "user"),
        Segment("<|im_end|>", "markup", "user"), Segment("\n"),
        Segment("<|im_start|>assistant\n", "markup", "assistant"),
        Segment("Hi.", "generated", "assistant"), Segment("<|im_end|>", "markup", "assistant"),
        Segment("\n"), Segment("<|im_start|>user\n", "markup", "user"),
        Segment("And?", "template", "user"), Segment("<|im_end|>", "markup", "user"),
        Segment("\n"), Segment("<|im_start|>assistant\n", "markup", "assistant"),
    )


def test_hidden_text_and_parallel_each_keep_provenance() -> None:
    llm = Mock({"": ["x", "y", "z", "end"]})
    guidance("{{#block hidden=True}}secret {{v}}{{/block}}"
             "{{#each items parallel=True}}[{{this}}:{{gen 'g' list_append=True}}]{{/each}}"
             "{{gen 'last'}}", llm=llm)(v="1", items=["a", "b"])
    assert _segments(llm) == (
        Segment("["), Segment("a", "value"), Segment(":"), Segment("x", "generated"),
        Segment("]["), Segment("b", "value"), Segment(":"), Segment("y", "generated"),
        Segment("]"),
    )


def test_runs_cut_and_slice() -> None:
    runs: list[Run] = []
    add_run(runs, 0, "template", None)
    add_run(runs, 3, "value", None)
    add_run(runs, 3, "generated", None)  # the value run got no text: replaced
    add_run(runs, 5, "template", None)
    assert segments("ab xyz", runs) == (Segment("ab "), Segment("xy", "generated"),
                                        Segment("z"))
    assert runs_after(runs, 4) == [Run(0, "generated", None), Run(1, "template", None)]
    cut_runs(runs, 4)
    assert segments("ab x", runs) == (Segment("ab "), Segment("x", "generated"))
