"""Run-time call sites: the fixed text after a tag, looking through closing tags."""

from __future__ import annotations

from guidance_engine.runtime.library.loops import BlockOptions, each_options
from guidance_engine.runtime.scopes import BlockFrame, LoopFrame
from guidance_engine.runtime.sites import running_site, text_after
from guidance_engine.template.compiler import compile_template
from guidance_engine.template.instructions import CallSite, Emit, Instruction


def emit_index(template: str) -> tuple[int, tuple[Instruction, ...]]:
    instructions = compile_template(template).instructions
    index = next(i for i, ins in enumerate(instructions) if isinstance(ins, Emit))
    return index, instructions


def test_text_after_jumps_over_an_else_branch() -> None:
    index, instructions = emit_index("{{#if x}}{{y}}{{else}}no{{/if}}, then")
    assert text_after(instructions, index + 1, []) == ", then"


def test_text_after_a_block_end_depends_on_the_open_block() -> None:
    index, instructions = emit_index("{{#block}}{{y}}{{/block}} after")
    visible = BlockFrame(0, 0, BlockOptions(None, None, False))
    hidden = BlockFrame(0, 0, BlockOptions(None, None, True))
    role = BlockFrame(0, 0, BlockOptions("user", None, False))
    assert [text_after(instructions, index + 1, [frame]) for frame in (visible, hidden, role)] \
        == [" after", "", ""]


def test_text_after_a_loop_end_is_the_next_opening_or_the_text_after_the_loop() -> None:
    index, instructions = emit_index("{{#each xs}}<{{y}}{{/each}}>")
    frame = LoopFrame(0, 0, each=each_options([1, 2]), position=0)
    assert text_after(instructions, index + 1, [frame]) == "<"
    frame.position = 1
    assert text_after(instructions, index + 1, [frame]) == ">"


def test_running_site_keeps_a_known_next_text() -> None:
    index, instructions = emit_index("{{y}} next")
    site = CallSite(next_text=" next")
    assert running_site(site, instructions, index + 1, []) is site
    assert running_site(CallSite(at_body_end=True, role="user"), instructions, len(instructions),
                        []) == CallSite(at_body_end=True, role="user")
