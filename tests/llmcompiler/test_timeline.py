"""The timeline of an LLMCompiler run: live events in order, the same picture live and from the
trace, the SVG's bars and hovers, and `guidance-engine llmcompiler show` as a subprocess."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import guidance_engine as guidance
from guidance_engine.llmcompiler import LLMCompiler
from guidance_engine.llmcompiler import run_events as re_
from guidance_engine.llmcompiler.docstore import Doc, Docstore
from guidance_engine.llmcompiler.runner import Store, run_benchmark
from guidance_engine.llmcompiler.timeline import Timeline
from guidance_engine.llmcompiler.timeline_svg import render_html, render_svg
from guidance_engine.llmcompiler.tools import Arg, Latency, Tool

from .test_cli import cli

STORE = Docstore([
    Doc("Sydney Tower Eye", ("Sydney Tower",), "Sydney Tower Eye is 309 m <b>tall</b>."),
    Doc("Harbour Bridge", (), "The Harbour Bridge is 134 m tall."),
])
QUESTION = "How tall is the Sydney Tower, near the Harbour Bridge?"


def replanning_agent(latency: float = 0.2) -> LLMCompiler:
    """Two lookups at once, a replan, a third lookup, then the answer (a scripted model)."""
    tool = Tool("search", "search(entity: str) -> str", (Arg("entity"),), STORE.search,
                Latency.fixed(latency))
    llm = guidance.llms.Mock({
        "assistant\n": ['1. search("Harbour Bridge")\n2. search("Sydney")\n3. join()',
                        '3. search("Sydney Tower")\n4. join()'],
        "Thought:": ["The height is missing.", "Sydney Tower Eye is 309 m tall."],
        "Action:": ["Replan", "Finish"], "Replan(": "search the tower by its name)",
        "Finish(": "309 m)"})
    return LLMCompiler([tool], llm=llm)


def watched_run() -> tuple[list[re_.RunEvent], Any]:
    seen: list[re_.RunEvent] = []

    async def main() -> Any:
        with re_.watching(seen.append):
            return await replanning_agent().arun(QUESTION)

    return seen, asyncio.run(main())


def test_a_run_reports_its_plan_tasks_joiner_and_replan_as_they_happen() -> None:
    seen, result = watched_run()
    kinds = [type(e).__name__ for e in seen if not isinstance(e, re_.PlanText)]
    assert kinds == ["PlanStarted", "TaskStarted", "TaskStarted", "PlanEnded", "TaskEnded",
                     "TaskEnded", "JoinStarted", "JoinEnded", "PlanStarted", "TaskStarted",
                     "PlanEnded", "TaskEnded", "JoinStarted", "JoinEnded"]
    plan_text = "".join(e.text for e in seen[: 6] if isinstance(e, re_.PlanText))
    assert plan_text.startswith('1. search("Harbour Bridge")\n2.')  # streamed before task 2
    started = [e for e in seen if isinstance(e, re_.TaskStarted)]
    assert [(e.index, e.round, e.tool, e.args) for e in started] == [
        (1, 0, "search", ("Harbour Bridge",)), (2, 0, "search", ("Sydney",)),
        (3, 1, "search", ("Sydney Tower",))]
    times = [e.time for e in seen]
    assert times == sorted(times)
    assert result.answer == "309 m"
    # Without a sink nothing is collected and the run is the same.
    assert replanning_agent().run(QUESTION).answer == "309 m"


def test_the_live_picture_and_the_trace_picture_agree() -> None:
    seen, result = watched_run()
    live = Timeline()
    for event in seen:
        live.feed(event)
    static = Timeline.from_trace(result.trace)
    from_store = Timeline.from_trace(json.loads(json.dumps(result.trace.as_dict())))

    def bars(timeline: Timeline) -> list[tuple[str, str, float, float | None]]:
        return sorted((b.lane, b.kind, round(b.start, 6), b.end and round(b.end, 6))
                      for b in timeline.bars)

    assert bars(live) == bars(static) == bars(from_store)
    assert live.lanes() == ["planner", "task 1", "task 2", "task 3", "joiner"]
    assert live.replans == static.replans and len(live.replans) == 1
    assert (live.answer, live.done) == ("309 m", True)
    task_1 = next(b for b in static.bars if b.lane == "task 1")
    assert task_1.title.splitlines()[:3] == ['1. search("Harbour Bridge")', "tool: search",
                                             "arguments: 'Harbour Bridge'"]
    assert task_1.title.splitlines()[-1] == "observation: The Harbour Bridge is 134 m tall."


def test_a_running_bar_grows_to_now_and_is_dashed() -> None:
    timeline = Timeline()
    timeline.feed(re_.PlanStarted(0, 0.0))
    timeline.feed(re_.PlanText('1. search("K2")', 0.5))
    svg = render_svg(timeline)
    assert 'stroke-dasharray="3 2"' in svg
    assert "<title>plan\n1. search(&quot;K2&quot;)</title>" in svg
    assert 'data-status="running"' in render_html(timeline)


def test_the_svg_has_a_bar_per_task_with_its_hover_and_escapes_everything() -> None:
    _, result = watched_run()
    svg = render_svg(Timeline.from_trace(result.trace))
    assert svg.count('<g class="bar task"') == 3
    assert svg.count('<g class="bar plan"') == 2 and svg.count('<g class="bar join"') == 2
    assert "<b>" not in svg and "309 m &lt;b&gt;tall&lt;/b&gt;." in svg
    assert svg.count('class="replan"') == 1 and ">replan 1</text>" in svg
    assert '>1. search("Harbour Bridge")</text>' in svg


def stored_run(tmp_path: Path, keep_trace: bool = True) -> Path:
    from guidance_engine.llmcompiler.benchmarks import Question

    path = tmp_path / "run.json"
    store = Store.open(path, {"benchmark": "hotpotqa", "agent": "llmcompiler"})
    question = Question("q7", QUESTION, "309 m")
    asyncio.run(run_benchmark(replanning_agent(0.05), [question], store, keep_trace=keep_trace,
                              progress=False))
    return path


def test_show_writes_the_picture_of_a_logged_question(tmp_path: Path) -> None:
    path = stored_run(tmp_path)
    shown = cli("show", str(path), "q7")
    assert shown.returncode == 0, shown.stderr
    picture = tmp_path / "run-q7.html"
    assert shown.stdout == f"wrote {picture}\n"
    page = picture.read_text()
    assert page.startswith("<!doctype html>") and page.count('<g class="bar task"') == 3
    assert "answer: 309 m" in page and QUESTION in page
    svg = cli("show", str(path), "q7", "--output", str(tmp_path / "q7.svg"))
    assert svg.returncode == 0, svg.stderr
    assert (tmp_path / "q7.svg").read_text().startswith('<svg xmlns="http://www.w3.org/2000/svg"')


def test_show_names_what_is_missing(tmp_path: Path) -> None:
    path = stored_run(tmp_path)
    missing = cli("show", str(path), "q8")
    assert (missing.returncode, missing.stderr) == (
        2, f"error: {path} has no question 'q8' (its questions: q7)\n")
    (tmp_path / "bare").mkdir()
    bare = stored_run(tmp_path / "bare", keep_trace=False)
    untraced = cli("show", str(bare), "q7")
    assert (untraced.returncode, untraced.stderr) == (
        2, f"error: {bare} keeps no trace for question 'q7': the run was made without "
           "--logging\n")
