"""A real IPython kernel (jupyter_client) running this checkout, for the notebook tests.

The kernel is started with this interpreter and PYTHONPATH set to the repository, so it
imports the same `guidance_engine` as the tests; torch uses one thread, as in the other
real-model tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
KERNEL_ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@dataclass
class Cell:
    """What one executed cell sent: its iopub messages (with arrival times) and its reply."""

    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)

    def of_type(self, *kinds: str) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if m["msg_type"] in kinds]

    def stdout(self) -> str:
        return "".join(m["content"]["text"] for m in self.of_type("stream")
                       if m["content"]["name"] == "stdout")


class Kernel:
    """A started kernel and a blocking client."""

    def __init__(self) -> None:
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name="python3", transport="ipc")
        self.manager.start_kernel(env=KERNEL_ENV)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)

    def run(self, code: str, on_message: Callable[[dict[str, Any]], None] | None = None,
            timeout: float = 300) -> Cell:
        """Execute `code`; collect its iopub messages until the kernel is idle again."""
        msg_id = self.client.execute(code)
        cell = Cell()
        while True:
            msg = self.client.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            cell.messages.append((time.monotonic(), msg))
            if on_message is not None:
                on_message(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        while True:
            reply = self.client.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                cell.reply = reply["content"]
                return cell

    def check(self, code: str) -> str:
        """Run `code` that must succeed; its stdout."""
        cell = self.run(code)
        errors = cell.of_type("error")
        assert cell.reply["status"] == "ok" and not errors, (cell.reply, errors)
        return cell.stdout()

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    started = Kernel()
    try:
        yield started
    finally:
        started.close()
