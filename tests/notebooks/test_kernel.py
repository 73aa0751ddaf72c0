"""The live view in a real kernel, as a notebook frontend receives it (jupyter_client).

Real-model tests: display updates arrive while the model decodes, `interrupt_kernel` stops
decoding within a few forward passes of the signal landing (counted, not timed) and the kernel
stays usable with the partial program, whose cut gen saved no value; a streaming gen's
variable holds its text so far in the partial programs `stream=True` yields. One Mock test: a
call as the cell's last expression is displayed once (no execute_result), and async_mode
displays.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

pytestmark = pytest.mark.model

SETUP = """
import signal, threading, torch
torch.set_num_threads(1)
import guidance_engine as guidance
llm = guidance.llms.Transformers()
passes_at_signal = []

def note_passes_at_sigint():
    # Wraps the handler ipykernel installs for the cell: the count when the interrupt lands.
    kernel_handler = signal.getsignal(signal.SIGINT)

    def note(signum, frame):
        passes_at_signal.append(llm.forward_passes)
        kernel_handler(signum, frame)

    signal.signal(signal.SIGINT, note)
"""
LONG = """note_passes_at_sigint()
out = guidance("Count from one to two hundred: 1, 2, 3, 4,{{gen 'n' max_tokens=400}}",
                llm=llm)()"""
# The stop crosses three threads (the kernel's main thread, the run's event loop, the model
# worker), so the pass running then and perhaps one more may still complete; decoding on would
# be hundreds of passes (the gen asks for 400 tokens).
MAX_PASSES_AFTER_SIGNAL = 5
HANG_GUARD_SECONDS = 10.0  # interrupt -> idle; the uninterrupted gen would run ~20 s more


def _html(msg: dict[str, Any]) -> str:
    html: str = msg["content"]["data"].get("text/html", "")
    return html


def test_updates_stream_during_a_real_gen_and_interrupt_stops_it(kernel: Any) -> None:
    kernel.check(SETUP)
    streaming: list[float] = []
    interrupted_at: list[float] = []

    def watch(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "update_display_data" and "guidance-streaming" in _html(msg):
            streaming.append(time.monotonic())  # a gen's text shown while it still runs
            if len(streaming) == 3 and not interrupted_at:
                interrupted_at.append(time.monotonic())
                kernel.manager.interrupt_kernel()

    cell = kernel.run(LONG, on_message=watch)
    idle_at = cell.messages[-1][0]
    # Updates came while the gen was running: it was still running when we interrupted.
    assert len(streaming) >= 3
    assert interrupted_at, "no streamed update arrived before the gen finished"
    elapsed = idle_at - interrupted_at[0]
    print(f"interrupt -> kernel idle: {elapsed:.3f} s")
    assert elapsed < HANG_GUARD_SECONDS
    # The cell returned the partial program (no traceback) and its view says it was stopped.
    assert cell.reply["status"] == "ok" and not cell.of_type("error")
    displays = [m for m in cell.of_type("display_data", "update_display_data")
                if "guidance-program" in _html(m)]  # the stop button's messages left out
    assert 'data-status="interrupted"' in _html(displays[-1])
    assert "interrupted (KeyboardInterrupt) at line 1, column 43" in _html(displays[-1])
    # The gen was cut: its streamed text is shown struck out, and its variable is not saved.
    assert "&#x27;n&#x27; was not saved (its gen was stopped before the end)" in _html(displays[-1])
    assert 'class="guidance-cut" data-name="n"' in _html(displays[-1])
    sent = sum(len(_html(m)) for m in displays)
    print(f"{len(displays)} display messages, {sent} bytes of HTML")
    assert not cell.of_type("execute_result")
    # The kernel is usable, nothing decodes on, the program says it was interrupted.
    counts = kernel.check("print(llm.forward_passes, *passes_at_signal)").split()
    assert len(counts) == 2, f"expected the passes now and at the one SIGINT, found {counts}"
    passes, at_signal = counts
    print(f"forward passes: {at_signal} when SIGINT landed, {passes} after the cell")
    assert int(passes) - int(at_signal) <= MAX_PASSES_AFTER_SIGNAL
    report = kernel.check(
        "print(out.interrupted, out.done, 'n' in out, repr(out.text[:14]), llm.forward_passes,"
        " [t.name for t in threading.enumerate() if t.name.startswith('guidance')])")
    assert report == f"True False False 'Count from one' {passes} []\n"
    again = kernel.check("print(guidance('Hi{{gen \"x\" max_tokens=3}}', llm=llm, "
                         "silent=True)().done)")
    assert again == "True\n"


STREAM_VALUES = """import json
values = [part.get('n') for part in
          guidance("Count: 1, 2, 3,{{gen 'n' max_tokens=12}}", llm=llm)(stream=True)]
print(json.dumps(values))"""


def test_a_streaming_gen_s_variable_holds_its_text_so_far(kernel: Any) -> None:
    import json

    kernel.check(SETUP)
    values = json.loads(kernel.check(STREAM_VALUES))
    final = values[-1]
    assert isinstance(final, str) and len(final) > 4
    streamed = [v for v in values[:-1] if v is not None]
    assert len(set(streamed)) >= 3, values  # the value grew while the model decoded
    assert all(final.startswith(v) for v in streamed), values
    assert streamed == sorted(streamed, key=len), values


def _views(cell: Any) -> list[dict[str, Any]]:
    """The display_data messages showing a program view (the stop button is another one)."""
    return [m for m in cell.of_type("display_data") if "text/html" in m["content"]["data"]]


def _last_view(cell: Any) -> dict[str, Any]:
    views = [m for m in cell.of_type("display_data", "update_display_data")
             if "guidance-program" in _html(m)]
    return views[-1]


STOP_SETUP = """
from guidance_engine.runtime.program import RunControl
passes_at_stop = []
_stop = RunControl.stop

def noting_stop(self, reason="stopped"):
    passes_at_stop.append((llm.forward_passes, reason))
    _stop(self, reason)

RunControl.stop = noting_stop
"""
WIDGET = "application/vnd.jupyter.widget-view+json"


def test_the_stop_button_stops_a_real_gen_and_leaves_the_partial_program(kernel: Any) -> None:
    kernel.check(SETUP + STOP_SETUP)
    button: list[str] = []
    streaming: list[float] = []
    sent: list[float] = []

    def watch(msg: dict[str, Any]) -> None:
        data = msg["content"].get("data", {})
        if msg["msg_type"] == "display_data" and WIDGET in data:
            button.append(data[WIDGET]["model_id"])
        if msg["msg_type"] == "update_display_data" and "guidance-streaming" in _html(msg):
            streaming.append(time.monotonic())
            if len(streaming) == 3 and button and not sent:
                # What the button's front end sends on a click (display/stop_button.js).
                click = kernel.client.session.msg("comm_msg", {
                    "comm_id": button[0],
                    "data": {"method": "custom", "content": {"event": "stop"}}})
                kernel.client.shell_channel.send(click)
                sent.append(time.monotonic())

    cell = kernel.run("out = guidance(\"Count from one to two hundred: 1, 2, 3, 4,"
                      "{{gen 'n' max_tokens=400}}\", llm=llm)()", on_message=watch)
    assert button, "no stop button was shown"
    assert sent, "no streamed update arrived before the gen finished"
    assert cell.reply["status"] == "ok" and not cell.of_type("error")
    final = cell.of_type("display_data", "update_display_data")
    views = [m for m in final if "guidance-program" in _html(m)]
    assert "interrupted (the stop button) at line 1, column 43" in _html(views[-1])
    # The button is taken out of the output when the run ends.
    assert final[-1]["content"]["data"] == {"text/plain": ""}
    report = json.loads(kernel.check(
        "import json\nprint(json.dumps([passes_at_stop, llm.forward_passes, out.interrupted, "
        "'n' in out, out.text[:14]]))"))
    stops, passes, *rest = report
    assert stops[0][1] == "the stop button"
    print(f"forward passes: {stops[0][0]} when the stop arrived, {passes} after the cell")
    assert passes - stops[0][0] <= MAX_PASSES_AFTER_SIGNAL
    assert rest == [True, False, "Count from one"]
    again = kernel.check("print(guidance('Hi{{gen \"x\" max_tokens=3}}', llm=llm, "
                         "silent=True)().done)")
    assert again == "True\n"


def test_last_expression_call_is_displayed_once_and_async_mode_displays(
    kernel: Any,
) -> None:
    kernel.check("import guidance_engine as guidance\nmock = guidance.llms.Mock('b c')")
    cell = kernel.run("guidance('a{{gen \"x\"}}', llm=mock)()")
    assert cell.reply["status"] == "ok"
    assert len(_views(cell)) == 1
    assert cell.of_type("execute_result") == []
    final = _last_view(cell)
    assert 'data-status="done"' in _html(final)
    assert final["content"]["data"]["text/plain"] == "a⟦b c⟧\n--- done ---"
    # A later cell showing the program does display it.
    shown = kernel.run("_")
    assert len(_views(shown)) == 1
    cell = kernel.run("out = await guidance('q{{gen \"y\"}}', llm=mock, async_mode=True)()")
    assert cell.reply["status"] == "ok"
    assert 'data-status="done"' in _html(_last_view(cell))
