"""Display: the view model from events, its HTML and text renderings, the live Jupyter view
(IPython faked here; the real kernel and browser tests are in tests/notebooks/)."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.display import jupyter
from guidance_engine.display.html import render_html
from guidance_engine.display.text import render_events, render_text
from guidance_engine.display.view import ProgramView
from guidance_engine.errors import Span
from guidance_engine.llms.mock import Mock
from guidance_engine.runtime import events as ev

S = Span(0, 0, 1, 1)


def test_render_events() -> None:
    events = [ev.TextEvent("ab", None), ev.GenChunk("x", 0, "c"), ev.GenChunk("x", 1, "z"),
              ev.TextEvent("cd", None), ev.TextReset(3), ev.TextEvent("!", None)]
    assert render_events(events) == "abc!"
    assert render_events(events[:3]) == "abc"


def view_of(template: str, llm: Any = None, **kwargs: Any) -> ProgramView:
    out = guidance(template, llm=llm)(**kwargs)
    view: ProgramView = out._view()
    return view


def test_view_segments_of_a_chat_with_gen_and_select() -> None:
    view = view_of("{{#user}}Q {{q}}{{/user}}{{#assistant}}{{gen 'a'}}{{/assistant}}"
                   "{{select 'c' options=['x', 'y']}}", Mock(["A", "y"]), q="<b>")
    shown = [(s.kind, s.text, s.name, s.role) for s in view.segments]
    assert shown == [
        ("role-open", "", None, "user"), ("role", "<|im_start|>user\n", None, None),
        ("text", "Q ", None, None), ("value", "<b>", None, None),
        ("role", "<|im_end|>", None, None), ("role-close", "", None, "user"),
        ("role-open", "", None, "assistant"), ("role", "<|im_start|>assistant\n", None, None),
        ("gen", "A", "a", None), ("role", "<|im_end|>", None, None),
        ("role-close", "", None, "assistant"), ("select", "y", "c", None)]
    select = view.segments[-1]
    assert select.title == "select 'c'\n'y': p=1.000\n'x': p=0.000"
    assert (view.status, view.rest) == ("done", "")


def test_html_escapes_values_and_highlights_each_generated_span() -> None:
    html = render_html(view_of("{{v}} {{gen 'a'}} {{gen 'b'}}", Mock(["<i>1</i>", "2"]),
                               v="<script>alert(1)</script>"))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count('class="guidance-gen"') == 2
    assert 'data-name="a" title="gen &#x27;a&#x27;"' in html
    assert "&lt;i&gt;1&lt;/i&gt;" in html
    # two neighbouring gens get different tints
    assert "rgba(0, 150, 255, 0.22)" in html and "rgba(0, 190, 90, 0.22)" in html


def test_html_shows_role_turns_and_not_their_markup() -> None:
    html = render_html(view_of("{{#system}}Be brief.{{/system}}", Mock()))
    assert '<div class="guidance-turn" data-role="system"' in html
    assert '<div class="guidance-role"' in html and ">system</div>" in html
    assert "im_start" not in html


def test_hidden_text_is_removed_from_the_view() -> None:
    view = view_of("a{{#block hidden=True}}{{#user}}b{{/user}}{{/block}}c", Mock())
    assert [(s.kind, s.text) for s in view.segments] == [("text", "a"), ("text", "c")]


def test_partial_program_greys_the_template_not_run_yet() -> None:
    view = view_of("a {{await 'x'}} {{gen 'y'}}")
    assert (view.status, view.message, view.rest) == ("waiting", "waiting for 'x'",
                                                     "{{await 'x'}} {{gen 'y'}}")
    html = render_html(view)
    assert '<span class="guidance-rest" style="opacity: 0.45">{{await &#x27;x&#x27;}}' in html


def test_a_failure_is_shown_with_its_message() -> None:
    view = ProgramView("a{{b}}")
    for event in [ev.TextEvent("a", Span(0, 1, 1, 1)),
                  ev.Failed(ValueError("bad <value>"), None)]:
        view.feed(event)
    html = render_html(view)
    assert 'data-status="error"' in html
    assert "ValueError: bad &lt;value&gt;" in html


def test_live_gen_is_shown_while_it_streams_and_progress_counts_tokens() -> None:
    view = ProgramView("x{{gen 'a'}}")
    for event in [ev.TextEvent("x", Span(0, 1, 1, 1)), ev.GenStart("a", Span(1, 12, 1, 2)),
                  ev.GenChunk("a", 0, " one", Span(1, 12, 1, 2)),
                  ev.GenChunk("a", 0, " two", Span(1, 12, 1, 2))]:
        view.feed(event)
    html = render_html(view)
    assert 'class="guidance-gen guidance-streaming" data-name="a"' in html
    assert "> one two</span>" in html and "guidance-cursor" in html
    assert view.rest == ""
    assert view.progress().startswith("2 tokens")


def test_hover_title_shows_token_logprobs() -> None:
    view = ProgramView("{{gen 'a' logprobs=1}}")
    span = Span(0, 22, 1, 1)
    for event in [ev.GenStart("a", span),
                  ev.GenEnd("a", " Paris.", span, ((" Paris", -0.25), (".", -1.5)), 2),
                  ev.TextEvent(" Paris.", span, "generated", "a")]:
        view.feed(event)
    (seg,) = view.segments
    assert (seg.kind, seg.title) == (
        "gen", "gen 'a'\nlogprob -1.75 over 2 tokens\n' Paris': -0.25\n'.': -1.50")
    assert 'title="gen &#x27;a&#x27;\nlogprob -1.75 over 2 tokens' in render_html(view)


def test_text_view_marks_generated_spans_and_turns() -> None:
    text = render_text(view_of("{{#user}}Hi{{/user}} {{gen 'a'}}", Mock("yo")))
    assert text == "[user]\nHi\n⟦yo⟧\n--- done ---"


class FakeHandle:
    def __init__(self, shown: list[dict[str, str]], data: dict[str, str]) -> None:
        self.shown = shown
        shown.append(data)

    def update(self, data: dict[str, str], raw: bool) -> None:
        assert raw
        self.shown.append(data)


def fake_kernel(monkeypatch: pytest.MonkeyPatch, count: int = 7) -> list[dict[str, str]]:
    shown: list[dict[str, str]] = []
    fake = types.ModuleType("IPython.display")

    def display(data: dict[str, str], raw: bool, display_id: bool = False) -> FakeHandle:
        assert raw
        return FakeHandle(shown, data)

    fake.display = display  # type: ignore[attr-defined]
    ipython = types.ModuleType("IPython")
    shell = types.SimpleNamespace(execution_count=count, kernel=object())
    ipython.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", fake)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    return shown


def test_live_display_is_throttled_and_always_sends_the_last_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shown = fake_kernel(monkeypatch)
    monkeypatch.setattr(jupyter, "UPDATE_SECONDS", 3600.0)
    out = guidance("a{{gen 'x'}}", llm=Mock(" ".join(["w"] * 500)))()
    assert len(out["x"]) == 999
    # the first display and the final state: not 500 updates
    assert len(shown) == 2
    assert 'data-status="done"' in shown[-1]["text/html"]
    assert shown[-1]["text/plain"].endswith("--- done ---")


def test_the_cell_result_is_not_displayed_a_second_time(monkeypatch: pytest.MonkeyPatch) -> None:
    shown = fake_kernel(monkeypatch)
    out = guidance("a")()
    before = len(shown)
    out._ipython_display_()  # what IPython does with the cell's last expression
    assert len(shown) == before
    fake_kernel(monkeypatch, count=8)  # a later cell showing `out` does display it
    out._ipython_display_()


def test_silent_false_outside_a_kernel_prints_the_text_view(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert not jupyter.in_kernel()
    out = guidance("a{{gen 'x'}}", llm=Mock("b"), silent=False)()
    assert str(out) == "ab"
    assert capsys.readouterr().out == "a⟦b⟧\n--- done ---\n"


def test_no_display_outside_jupyter_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert str(guidance("x")()) == "x"
    assert capsys.readouterr().out == ""


def test_silent_false_without_ipython_runs_without_display(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "IPython", None)  # as if IPython were not installed
    assert str(guidance("a{{x}}", silent=False)(x=1)) == "a1"


def test_healed_and_forced_tokens_have_their_own_style_and_hover() -> None:
    from guidance_engine.llms.base import TokenMark

    span = Span(6, 18, 1, 7)
    marks = (TokenMark("healed", 0, 2, ' {"', backed_up=" "),
             TokenMark("forced", 2, 8, 'name":'))
    view = ProgramView("Data: {{gen 'p'}}")
    for event in [ev.TextEvent("Data: ", Span(0, 6, 1, 1)), ev.GenStart("p", span),
                  ev.GenEnd("p", '{"name": "Al"}', span, marks=marks),
                  ev.TextEvent('{"name": "Al"}', span, "generated", "p")]:
        view.feed(event)
    assert view.segments[-1].pieces() == [
        ('{"', marks[0]), ('name":', marks[1]), (' "Al"}', None)]
    html = render_html(view)
    assert ('<span class="guidance-healed" title="gen &#x27;p&#x27;: healing backed up '
            '&#x27; &#x27; and the model chose &#x27; {&quot;&#x27;" style="border-bottom: 2px '
            'solid rgba(230, 0, 170, 0.8)">{&quot;</span>') in html
    assert ('<span class="guidance-forced" title="gen &#x27;p&#x27;: forced by the '
            'constraint, no sampling: &#x27;name&quot;:&#x27;" style="border-bottom: 2px dashed '
            'rgba(127, 127, 127, 0.9); font-style: italic">name&quot;:</span> &quot;Al&quot;}'
            ) in html
    assert view.segments[-1].title.splitlines()[1:] == [
        "healing backed up ' ' and the model chose ' {\"'",
        "forced by the constraint, no sampling: 'name\":'"]


def test_a_view_rebuilt_after_the_run_shows_no_speed() -> None:
    view = ProgramView("x")
    view.feed(ev.GenEnd("a", "b", None, tokens=7))
    assert view.progress().startswith("7 tokens · ")
    rebuilt = ProgramView("x", timed=False)
    rebuilt.feed(ev.GenEnd("a", "b", None, tokens=7))
    assert rebuilt.progress() == "7 tokens"
