"""The program view in a real browser: headless Debian Chromium loads rendered views and we
check the DOM it built (one element per generated span, role turns, nothing executed from a
value) and keep a screenshot (light and dark themes) in artifacts/ for a reviewer to look at.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import guidance_engine as guidance
from guidance_engine.display.html import render_html
from guidance_engine.llms.mock import Mock
from guidance_engine.runtime import events as ev

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
EVIL = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium "
                                "(make test installs it)")

CHAT = """{{#system}}You answer in one word.{{/system}}
{{#user}}Say something about {{topic}}.{{/user}}
{{#assistant}}{{gen 'answer'}}{{/assistant}}
Mood: {{select 'mood' options=['calm', 'glad']}}, then {{gen 'more'}}."""


class Dom(HTMLParser):
    """Elements of the parsed DOM: (tag, attributes), and the document title."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def with_class(self, name: str) -> list[dict[str, str]]:
        return [a for _, a in self.elements if name in a.get("class", "").split()]


def interrupted_view() -> str:
    async def hang() -> None:
        await asyncio.sleep(3600)

    async def main() -> Any:
        stream = guidance("Before {{gen 'a'}} {{hang}} after {{gen 'b'}}",
                          llm=Mock("partial answer")).events(hang=hang)
        async for event in stream:
            if isinstance(event, ev.TextEvent) and event.kind == "generated":
                stream.stop("the stop button")
            last = event
        return last.program

    return str(render_html(asyncio.run(main())._view()))


def page() -> str:
    chat = guidance(CHAT, llm=Mock(["A <b>bold</b> idea", "glad", EVIL]))(topic=EVIL)
    views = render_html(chat._view()) + interrupted_view()
    return ("<!doctype html><html><head><meta charset='utf-8'><title>guidance view</title>"
            "</head><body style='margin: 0; font-size: 14px'>"
            f"<div id='light' style='background: #fff; color: #111; padding: 12px'>{views}</div>"
            f"<div id='dark' style='background: #1e1e1e; color: #ddd; padding: 12px'>{views}"
            "</div></body></html>")


def chromium(tmp_path: Path, *args: str) -> str:
    assert CHROMIUM is not None
    result = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                            capture_output=True, text=True, timeout=120, check=True)
    return result.stdout


def test_view_dom_in_headless_chromium(tmp_path: Path) -> None:
    html_file = tmp_path / "view.html"
    html_file.write_text(page(), encoding="utf-8")
    dom = Dom()
    dom.feed(chromium(tmp_path, "--dump-dom", html_file.as_uri()))
    # Nothing from a value ran or became markup: no script, no img, title untouched.
    assert dom.title == "guidance view"
    assert [t for t, _ in dom.elements if t in ("script", "img", "b")] == []
    programs = dom.with_class("guidance-program")
    assert [p["data-status"] for p in programs] == ["done", "interrupted"] * 2
    # One element per generated span, each naming its variable (per theme copy).
    gens = dom.with_class("guidance-gen") + dom.with_class("guidance-select")
    assert sorted(g["data-name"] for g in gens) == sorted(["answer", "mood", "more", "a"] * 2)
    titles = {g["data-name"]: g["title"] for g in dom.with_class("guidance-select")}
    assert titles["mood"] == "select 'mood'\n'glad': p=1.000\n'calm': p=0.000"
    # Role blocks are chat turns.
    assert [t["data-role"] for t in dom.with_class("guidance-turn")] == [
        "system", "user", "assistant"] * 2
    assert len(dom.with_class("guidance-alert")) == 2  # the interrupted view says so
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "program_view.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=900,1000",
             "--hide-scrollbars", html_file.as_uri())
    assert shot.stat().st_size > 10_000


MARKS_CHECK = """<script>
// Report what the browser computed for each marked token (style, hover text) into the DOM.
for (const el of document.querySelectorAll('.guidance-healed, .guidance-forced')) {
  const style = getComputedStyle(el);
  el.dataset.seen = [style.borderBottomStyle, style.fontStyle, el.title].join('|');
}
</script>"""


def marked_views(llm: Any) -> str:
    healed = guidance("My name is John Smith. Your name is {{gen 'name' max_tokens=4 stop='.'}}."
                      "\nThe capital of France is {{gen 'city' max_tokens=3 stop='.'}}",
                      llm=llm)()
    schema = {"type": "object", "properties": {"name": {"type": "string"},
                                               "age": {"type": "integer"}},
              "required": ["name", "age"]}
    person = guidance("A person as JSON: {{gen 'p' json_schema=schema max_tokens=30}}",
                      llm=llm)(schema=schema)
    return render_html(healed._view()) + render_html(person._view())


def test_healed_and_forced_tokens_in_headless_chromium(tmp_path: Path, smol_llm: Any) -> None:
    views = marked_views(smol_llm)
    html_file = tmp_path / "marks.html"
    html_file.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>marks</title></head>"
        "<body style='margin: 0; font-size: 18px'>"
        f"<div style='background: #fff; color: #111; padding: 12px'>{views}</div>"
        f"<div style='background: #1e1e1e; color: #ddd; padding: 12px'>{views}</div>"
        f"{MARKS_CHECK}</body></html>", encoding="utf-8")
    dom = Dom()
    dom.feed(chromium(tmp_path, "--dump-dom", html_file.as_uri()))
    healed = [a["data-seen"] for a in dom.with_class("guidance-healed")]
    forced = [a["data-seen"] for a in dom.with_class("guidance-forced")]
    assert healed[:3] == [
        "solid|normal|gen 'name': healing backed up ' ' and the model chose ' Emily'",
        "solid|normal|gen 'city': healing backed up ' ' and the model chose ' Paris'",
        "solid|normal|gen 'p': healing backed up ' ' and the model chose ' {\"'"]
    assert len(healed) == 6  # and the same three in the dark copy
    assert forced[:2] == [
        "dashed|italic|gen 'p': forced by the constraint, no sampling: 'name\":'",
        "dashed|italic|gen 'p': forced by the constraint, no sampling: ' \"age\":'"]
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "healed_forced_tokens.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=900,520", "--hide-scrollbars",
             html_file.as_uri())
    assert shot.stat().st_size > 10_000


def test_llmcompiler_timeline_in_headless_chromium(tmp_path: Path) -> None:
    from guidance_engine.llmcompiler.timeline import Timeline
    from guidance_engine.llmcompiler.timeline_svg import write_picture

    from ..llmcompiler.test_timeline import QUESTION, replanning_agent

    result = replanning_agent(latency=0.6).run(QUESTION)
    page = tmp_path / "timeline.html"
    write_picture(Timeline.from_trace(result.trace), str(page))
    dom = Dom()
    dom.feed(chromium(tmp_path, "--dump-dom", page.as_uri()))
    bars = [a for _, a in dom.elements if "bar" in a.get("class", "").split()]
    assert [(a["class"], a["data-lane"]) for a in bars] == [
        ("bar plan", "planner"), ("bar plan", "planner"), ("bar task", "task 1"),
        ("bar task", "task 2"), ("bar task", "task 3"), ("bar join", "joiner"),
        ("bar join", "joiner")]
    assert len(dom.with_class("replan")) == 1
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "llmcompiler_timeline_replan.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=940,250", "--hide-scrollbars",
             page.as_uri())
    assert shot.stat().st_size > 10_000


POPULATION = {"France": 68, "Spain": 48, "Peru": 34, "Chile": 20}
PLANNER_EXAMPLES = """Question: Which has more people, Peru or Chile?
1. population("Peru")
2. population("Chile")
3. join()"""
JOINER_EXAMPLES = """Question: Which has more people, Peru or Chile?
1. population("Peru")
Observation: Peru has 34 million people.
2. population("Chile")
Observation: Chile has 20 million people.
Thought: Peru has 34 million people and Chile 20 million, so Peru has more.
Action: Finish(Peru)"""


def test_the_timeline_of_a_real_model_run_for_the_readme(tmp_path: Path, smol_llm: Any) -> None:
    """Notebook 06's run on the default model: the README shows this test's screenshot
    (docs/images/llmcompiler_timeline.png is a copy of artifacts/llmcompiler_timeline.png)."""
    from guidance_engine.llmcompiler import Latency, LLMCompiler, Tool
    from guidance_engine.llmcompiler.timeline import Timeline
    from guidance_engine.llmcompiler.timeline_svg import write_picture

    def population(country: str) -> str:
        """The population of a country, in millions."""
        return f"{country} has {POPULATION.get(country, 'an unknown number of')} million people."

    tools = [Tool.from_function(population, latency=Latency.fixed(2.0))]
    agent = LLMCompiler(tools, llm=smol_llm, planner_examples=PLANNER_EXAMPLES,
                        joiner_examples=JOINER_EXAMPLES, max_replans=1)
    result = agent.run("Which has more people, France or Spain?")
    timeline = Timeline.from_trace(result.trace)
    plan = next(b for b in timeline.bars if b.kind == "plan")
    tasks = [b for b in timeline.bars if b.kind == "task"]
    assert len(tasks) == 2 and all(t.start < (plan.end or 0) for t in tasks)  # while planning
    page = tmp_path / "timeline.html"
    write_picture(timeline, str(page))
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "llmcompiler_timeline.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=940,210", "--hide-scrollbars",
             page.as_uri())
    assert shot.stat().st_size > 10_000


BUTTON_PAGE = """<!doctype html><html><head><meta charset='utf-8'><title>stop</title></head>
<body style='margin: 0; font-size: 14px'><div id='out' style='padding: 12px'>{view}
<div id='button'></div></div>
<script type='module'>
// The widget's front end as a notebook runs it: render({{model, el}}) with a model that keeps
// its traits and records what the button sends to the kernel.
const source = {source};
const module = await import(URL.createObjectURL(new Blob([source], {{type: 'text/javascript'}})));
const traits = {{running: true, outcome: 'done'}}, handlers = {{}};
window.sent = [];
window.kernelSays = (running, outcome) => {{  // a trait change from the kernel
  traits.running = running; traits.outcome = outcome; handlers['change:running']();
}};
module.default.render({{model: {{
  get: (name) => traits[name],
  on: (event, callback) => {{ handlers[event] = callback; }},
  send: (content) => window.sent.push(content),
}}, el: document.getElementById('button')}});
</script></body></html>"""


def test_the_stop_button_is_shown_and_clickable_in_headless_chromium(tmp_path: Path) -> None:
    import json

    from guidance_engine.display.stop_button import _ESM

    from .devtools import DevTools

    page = tmp_path / "button.html"
    page.write_text(BUTTON_PAGE.format(view=running_view(), source=json.dumps(_ESM.read_text())),
                    encoding="utf-8")
    state = "[document.querySelector('button.guidance-stop').textContent, " \
            "document.querySelector('button.guidance-stop').disabled, window.sent]"
    assert CHROMIUM is not None
    with DevTools(CHROMIUM, tmp_path / "devtools") as browser:
        browser.open(page.as_uri(), "!!document.querySelector('button.guidance-stop')")
        assert browser.evaluate(state) == ["■ stop", False, []]
        browser.click("button.guidance-stop")  # a real mouse click, hit testing included
        assert browser.evaluate(state) == ["stopping…", True, [{"event": "stop"}]]
        browser.click("button.guidance-stop")  # disabled now: nothing more is sent
        browser.evaluate("window.kernelSays(false, 'stopped')")  # the run ended
        assert browser.evaluate(state) == ["stopped", True, [{"event": "stop"}]]
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "stop_button.png"
    chromium(tmp_path, "--virtual-time-budget=2000", "--allow-file-access-from-files",
             f"--screenshot={shot}", "--window-size=700,160", "--hide-scrollbars",
             page.as_uri())
    assert shot.stat().st_size > 5_000


def running_view() -> str:
    """The HTML of a view whose gen is still streaming."""
    from guidance_engine.display.view import ProgramView
    from guidance_engine.errors import Span

    span = Span(10, 36, 1, 11)
    view = ProgramView("Count: 1, {{gen 'n' max_tokens=400}}")
    for event in [ev.TextEvent("Count: 1, ", Span(0, 10, 1, 1)), ev.GenStart("n", span),
                  ev.GenChunk("n", 0, "2, 3, 4, 5, 6", span)]:
        view.feed(event)
    return render_html(view)
