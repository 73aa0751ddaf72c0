"""The view's stop button in a real kernel (jupyter_client), with a scripted model and an async
tool that hangs: the button is shown under the view, its message (what the front end sends on a
click) stops a blocked synchronous call and an awaited async_mode call, and the button is taken
out of the output when the run ends. The real-model test is in test_kernel.py."""

from __future__ import annotations

from typing import Any

SETUP = """
import asyncio
import guidance_engine as guidance

async def hang():  # the call blocks the cell until this returns (or the run is stopped)
    print("tool started", flush=True)
    await asyncio.sleep(30)
    return "late"

program = guidance("Before {{gen 'a'}} {{tool}} after", llm=guidance.llms.Mock("text"))
"""
WIDGET = "application/vnd.jupyter.widget-view+json"


def press_when_the_tool_runs(kernel: Any) -> tuple[Any, list[str]]:
    """Press the button (send what its front end sends) once the run waits in the tool."""
    shown: list[str] = []
    pressed: list[str] = []

    def watch(msg: dict[str, Any]) -> None:
        data = msg["content"].get("data", {})
        if msg["msg_type"] == "display_data" and WIDGET in data:
            shown.append(data[WIDGET]["model_id"])
        text = msg["content"].get("text", "") if msg["msg_type"] == "stream" else ""
        if "tool started" in text and shown and not pressed:
            pressed.append(shown[0])
            click = kernel.client.session.msg("comm_msg", {
                "comm_id": shown[0], "data": {"method": "custom", "content": {"event": "stop"}}})
            kernel.client.shell_channel.send(click)

    return watch, pressed


def check_stopped(cell: Any, pressed: list[str]) -> None:
    assert pressed, "no stop button was shown"
    assert cell.reply["status"] == "ok" and not cell.of_type("error"), cell.reply
    shown = cell.of_type("display_data", "update_display_data")
    views = [m["content"]["data"]["text/html"] for m in shown
             if "guidance-program" in m["content"]["data"].get("text/html", "")]
    assert 'data-status="interrupted"' in views[-1]
    assert "interrupted (the stop button) at line 1, column 20" in views[-1]  # {{tool}}
    assert shown[-1]["content"]["data"] == {"text/plain": ""}  # the button is gone


def test_the_button_stops_a_blocked_synchronous_call(kernel: Any) -> None:
    kernel.check(SETUP)
    watch, pressed = press_when_the_tool_runs(kernel)
    cell = kernel.run("out = program(tool=hang)", on_message=watch, timeout=25)
    check_stopped(cell, pressed)
    assert kernel.check("print(out.interrupted, repr(out.text))") == "True 'Before text '\n"


def test_the_button_stops_an_awaited_async_mode_call(kernel: Any) -> None:
    kernel.check(SETUP)
    watch, pressed = press_when_the_tool_runs(kernel)
    cell = kernel.run("out = await program(tool=hang, async_mode=True)", on_message=watch,
                      timeout=25)
    check_stopped(cell, pressed)
    assert kernel.check("print(out.interrupted, repr(out.text))") == "True 'Before text '\n"
