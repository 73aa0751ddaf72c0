"""HTML rendering of a `ProgramView` for Jupyter: escaped everywhere, readable in light and dark.

Generated text is highlighted (one tint per gen/select, cycling), with the variable name and
logprobs / option probabilities in the hover title; role blocks become chat turns; the
template not yet run is greyed; a status line shows progress, an error or an interrupt. Only
inline styles with `currentColor` and semi-transparent tints are used, so the view follows
the notebook theme and survives output sanitizers that drop `<style>`::

    render_html(view)  # '<div class="guidance-program" data-status="done" ...>...</div>'
"""

from __future__ import annotations

from html import escape

from guidance_engine.display.view import ProgramView, Segment, cut_note

# Semi-transparent tints: readable on white and on dark backgrounds alike.
_TINTS = ("rgba(0, 150, 255, 0.22)", "rgba(0, 190, 90, 0.22)", "rgba(255, 150, 0, 0.25)",
          "rgba(190, 80, 255, 0.22)", "rgba(255, 60, 100, 0.20)", "rgba(0, 200, 200, 0.22)")
_BODY = "white-space: pre-wrap; font-family: monospace; margin: 0; line-height: 1.45"
_TURN = ("border-left: 3px solid rgba(127, 127, 127, 0.5); margin: 4px 0; "
         "padding: 2px 8px; background: rgba(127, 127, 127, 0.08); border-radius: 3px")
_ROLE = "font-weight: bold; font-size: 0.85em; opacity: 0.75; font-family: sans-serif"
_GREY = "opacity: 0.45"
_VALUE = "text-decoration: underline dotted rgba(127, 127, 127, 0.8)"
# Healed: a solid magenta underline; forced (no sampling): dashed and italic.
_MARKS = {"healed": "border-bottom: 2px solid rgba(230, 0, 170, 0.8)",
          "forced": "border-bottom: 2px dashed rgba(127, 127, 127, 0.9); font-style: italic"}
_CUT = "text-decoration: line-through; opacity: 0.55"
_STATUS = "font-family: sans-serif; font-size: 0.8em; opacity: 0.75; margin-top: 4px"
_ALERT = ("font-family: sans-serif; font-size: 0.85em; margin-top: 4px; padding: 2px 6px; "
          "border-radius: 3px; background: rgba(255, 60, 60, 0.18)")


def render_html(view: ProgramView) -> str:
    """The whole view as one HTML fragment."""
    parts = [f'<div class="guidance-program" data-status="{view.status}">',
             f'<div class="guidance-body" style="{_BODY}">']
    depth = 0
    for seg in view.shown():
        if seg.kind == "role-open":
            parts.append(_turn_open(seg.role or ""))
            depth += 1
        elif seg.kind == "role-close":
            if depth:
                parts.append("</div></div>")
                depth -= 1
        else:
            parts.append(_segment(seg))
    if view.pending:
        tint = _TINTS[(view._serial) % len(_TINTS)]
        name = escape(view.pending_name or "", quote=True)
        parts.append(f'<span class="guidance-gen guidance-streaming" data-name="{name}" '
                     f'title="gen {name} (running)" style="background: {tint}">'
                     f"{escape(view.pending)}</span>")
    if view.cut:
        name = escape(view.cut_name or "", quote=True)
        title = escape(f"{cut_note(view.cut_name, view.status)}: this text was streamed, "
                       "then dropped", quote=True)
        parts.append(f'<span class="guidance-cut" data-name="{name}" title="{title}" '
                     f'style="{_CUT}">{escape(view.cut)}</span>')
    if view.status == "running":
        parts.append(f'<span class="guidance-cursor" style="{_GREY}">▌</span>')
    parts.append("</div></div>" * depth)
    if view.rest:
        parts.append(f'<span class="guidance-rest" style="{_GREY}">{escape(view.rest)}</span>')
    parts.append("</div>")
    parts.append(_footer(view))
    parts.append("</div>")
    return "".join(parts)


def _turn_open(role: str) -> str:
    name = escape(role, quote=True)
    return (f'<div class="guidance-turn" data-role="{name}" style="{_TURN}">'
            f'<div class="guidance-role" style="{_ROLE}">{escape(role)}</div>'
            f'<div class="guidance-turn-body">')


def _segment(seg: Segment) -> str:
    text = escape(seg.text)
    if seg.kind in ("gen", "select"):
        tint = _TINTS[(seg.serial - 1) % len(_TINTS)]
        name = escape(seg.name or "", quote=True)
        return (f'<span class="guidance-{seg.kind}" data-name="{name}" '
                f'title="{escape(seg.title, quote=True)}" '
                f'style="background: {tint}; border-radius: 2px">{_marked(seg)}</span>')
    if seg.kind == "value":
        return f'<span class="guidance-value" style="{_VALUE}">{text}</span>'
    return text


def _marked(seg: Segment) -> str:
    """A generated text with its healed and forced tokens in spans of their own: a distinct
    style, and a hover that says what happened (the innermost title is the one shown)."""
    if not seg.marks:
        return escape(seg.text)
    out = []
    for text, mark in seg.pieces():
        if mark is None:
            out.append(escape(text))
            continue
        what = f"gen {seg.name!r}: {mark.note}" if seg.name else mark.note
        out.append(f'<span class="guidance-{mark.kind}" title="{escape(what, quote=True)}" '
                   f'style="{_MARKS[mark.kind]}">{escape(text)}</span>')
    return "".join(out)


def _footer(view: ProgramView) -> str:
    out = []
    if view.status in ("error", "interrupted"):
        out.append(f'<div class="guidance-alert" style="{_ALERT}">{escape(view.message)}</div>')
    status = {"running": "running", "done": "done", "waiting": view.message,
              "interrupted": "stopped", "error": "failed"}[view.status]
    progress = view.progress()
    line = " · ".join(x for x in (status, progress) if x)
    out.append(f'<div class="guidance-status" style="{_STATUS}">{escape(line)}</div>')
    return "".join(out)
