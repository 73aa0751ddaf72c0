"""The LLMCompiler timeline drawn live in a real kernel (jupyter_client): `watch` sends the
picture while the run goes (bars still running), then the finished one. A scripted model and
tools with a fixed latency, so no model is loaded."""

from __future__ import annotations

from typing import Any

SETUP = """
import guidance_engine as guidance
from guidance_engine.llmcompiler import LLMCompiler, Latency, Tool
from guidance_engine.llmcompiler.timeline import watch

def population(country: str) -> str:
    \"\"\"The population of a country, in millions.\"\"\"
    return {"France": "68", "Spain": "48"}[country] + " million"

llm = guidance.llms.Mock({
    "assistant\\n": '1. population("France")\\n2. population("Spain")\\n3. join()',
    "Thought:": "France has more.", "Action:": "Finish", "Finish(": "France)"})
agent = LLMCompiler([Tool.from_function(population, latency=Latency.fixed(1.0))], llm=llm)
"""


def test_watch_draws_the_timeline_while_the_run_goes(kernel: Any) -> None:
    kernel.check(SETUP)
    cell = kernel.run("result = await watch(agent.arun('Which has more people, France or "
                      "Spain?'))\nprint(result.answer)")
    assert cell.reply["status"] == "ok" and not cell.of_type("error"), cell.reply
    assert cell.stdout() == "France\n"
    shown = [m["content"]["data"]["text/html"]
             for m in cell.of_type("display_data", "update_display_data")]
    running = [html for html in shown if 'data-status="running"' in html]
    # Both lookups drawn while they still ran: dashed bars of the two tasks, no joiner yet.
    assert any(html.count('<g class="bar task"') == 2 and 'stroke-dasharray="3 2"' in html
               and 'class="bar join"' not in html for html in running)
    final = shown[-1]
    assert 'data-status="done"' in final and "answer: France" in final
    assert final.count('<g class="bar task"') == 2 and 'stroke-dasharray="3 2"' not in final
    assert "tool: population\narguments: &#x27;France&#x27;" in final
