"""Call sites at run time: the fixed text the model will read right after a tag.

The compiler records the text next to each tag in the same block body (`CallSite`). At run time
more is known: which blocks are open, whether a loop iteration is the last one. `running_site`
completes a site whose `next_text` is empty by looking through the closing tags that write
nothing, so a `gen` without `stop` still stops where the template's text resumes::

    {{#if x}}{{gen 'a'}}{{/if}}, then          stops at ', then'
    {{#geneach 'xs'}}- {{gen 'this'}}{{/geneach}}   stops at '- ' (the next iteration)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from guidance_engine.runtime.scopes import BlockFrame, Frame, LoopFrame
from guidance_engine.template import instructions as ins_
from guidance_engine.template.instructions import CallSite, Instruction


def running_site(
    site: CallSite, instructions: Sequence[Instruction], after: int, frames: Sequence[Frame]
) -> CallSite:
    """`site` with `next_text` filled in from the text that runs from index `after` on."""
    if site.next_text:
        return site
    following = text_after(instructions, after, frames)
    return replace(site, next_text=following, at_body_end=False) if following else site


def text_after(instructions: Sequence[Instruction], pc: int, frames: Sequence[Frame]) -> str:
    """The fixed text that runs next from `pc`, skipping closing tags that write nothing;
    "" when a role end, a hidden block's end, another tag or the template's end comes first.
    `frames` are the open frames, innermost last."""
    open_frames = list(frames)
    for _ in range(len(instructions)):  # bounded: a jump cycle cannot hang us
        if pc >= len(instructions):
            return ""
        ins = instructions[pc]
        if isinstance(ins, ins_.Text):
            return ins.text
        if isinstance(ins, ins_.Jump):
            pc = ins.target
            continue
        frame = open_frames.pop() if open_frames else None
        if isinstance(ins, ins_.ExitBlock) and isinstance(frame, BlockFrame):
            if frame.options.role is not None or frame.options.hidden:
                return ""
            pc += 1
        elif isinstance(ins, ins_.LoopEnd) and isinstance(frame, LoopFrame):
            if not last_iteration(frame):
                return iteration_opening(instructions, frame)
            if loop_hidden(frame):
                return ""
            pc = ins.exit
        else:
            return ""
    return ""


def last_iteration(frame: LoopFrame) -> bool:
    """Whether the running iteration is known to be the loop's last one."""
    if frame.each is not None:
        return frame.position >= len(frame.each.items) - 1
    options = frame.geneach
    assert options is not None, "a loop frame is either an each or a geneach"
    limit = options.num_iterations if options.num_iterations is not None else (
        options.max_iterations)
    return frame.count >= limit


def iteration_opening(instructions: Sequence[Instruction], frame: LoopFrame) -> str:
    """The text that starts the next iteration: geneach's join, then the body's first text."""
    first = instructions[frame.start + 1]
    join = frame.geneach.join if frame.geneach is not None else ""
    return join + (first.text if isinstance(first, ins_.Text) else "")


def loop_hidden(frame: LoopFrame) -> bool:
    """Whether the loop's text is dropped when it ends (`hidden=True`)."""
    if frame.each is not None:
        return frame.each.hidden
    return frame.geneach is not None and frame.geneach.hidden
