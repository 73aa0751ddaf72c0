"""A minimal DevTools-protocol driver for headless Chromium over `--remote-debugging-pipe`
(JSON messages separated by NUL bytes on file descriptors 3 and 4), so a test can click with
the real mouse pipeline (hit testing included) instead of calling `element.click()`::

    with DevTools(chromium_path, tmp_path) as page:
        page.open(url)
        page.click("button.guidance-stop")
        page.evaluate("document.title")
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--allow-file-access-from-files", "--remote-debugging-pipe"]


class DevTools:
    """One Chromium process and one page, driven over the DevTools pipe."""

    def __init__(self, chromium: str, profile: Path) -> None:
        commands_read, commands_write = os.pipe()
        replies_read, replies_write = os.pipe()

        def to_fds_3_and_4() -> None:  # where Chromium expects the pipe (kept open: pass_fds)
            commands, replies = os.dup(commands_read), os.dup(replies_write)  # never clobbered
            os.dup2(commands, 3)
            os.dup2(replies, 4)

        self._process = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(3, 4), preexec_fn=to_fds_3_and_4,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(commands_read)
        os.close(replies_write)
        self._out, self._in = commands_write, replies_read
        self._buffer = b""
        self._id = 0
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.send("Target.attachToTarget",
                                  {"targetId": target, "flatten": True})["sessionId"]

    def send(self, method: str, params: dict[str, Any] | None = None,
             page: bool = False) -> dict[str, Any]:
        """Call `method`; the reply's result (events arriving meanwhile are skipped)."""
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if page:
            message["sessionId"] = self._session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._in, 65536)
                assert chunk, "Chromium closed the DevTools pipe"
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                assert "error" not in reply, reply["error"]
                result: dict[str, Any] = reply["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (a thrown error fails the test)."""
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                               "awaitPromise": True}, page=True)
        assert "exceptionDetails" not in reply, reply["exceptionDetails"]
        return reply["result"].get("value")

    def open(self, url: str, ready: str, tries: int = 100) -> None:
        """Load `url` and wait until the expression `ready` is true (polled, bounded)."""
        self.send("Page.navigate", {"url": url}, page=True)
        for _ in range(tries):
            if self.evaluate(ready):
                return
            time.sleep(0.05)
        raise AssertionError(f"the page never became ready: {ready}")

    def click(self, selector: str) -> None:
        """A left click at the centre of the element, through the browser's input pipeline."""
        box = self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                            ".getBoundingClientRect(); return [r.x + r.width / 2, "
                            "r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1],
                                                   "button": "left", "clickCount": 1}, page=True)

    def __enter__(self) -> DevTools:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            self.send("Browser.close")
        except (AssertionError, OSError):
            pass
        finally:
            os.close(self._out)
            os.close(self._in)
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
