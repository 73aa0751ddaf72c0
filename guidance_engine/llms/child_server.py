"""What every server the package starts in a child process shares: its addresses, its output
log, waiting until `/health` answers, and use as a context manager.

`LlamaCppServer` and `VLLMServer` (dataclasses with `host`, `port`, `startup_timeout` and the
two private fields below) add how to start and stop their own child::

    class MyServer(ChildServer):
        label = "my server"
        def start(self):
            self._launch(subprocess.Popen([...], stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            return self
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from types import TracebackType
from typing import Self

from guidance_engine.errors import ModelError


class ServerStartError(ModelError):
    """A server the package starts did not come up (bad model path, port taken, crash)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ChildServer:
    """Shared behaviour of the server dataclasses (see the module docstring)."""

    label = "server"  # how errors name it: "llama.cpp server", "vLLM server"
    poll_seconds = 0.1  # how often `/health` is asked while the server starts
    host: str
    port: int | None
    startup_timeout: float
    _process: subprocess.Popen[bytes] | None
    _log: deque[str]

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, e.g. `http://127.0.0.1:40123/v1`."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def url(self) -> str:
        """The server root, e.g. `http://127.0.0.1:40123` (`/health`, `/props`, `/version`)."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def log_tail(self) -> str:
        """The last lines the server printed (for error messages)."""
        return "\n".join(self._log)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _launch(self, process: subprocess.Popen[bytes]) -> None:
        """Adopt the started child: collect its output, wait until it is healthy (stopping it
        if it never is)."""
        self._process = process
        threading.Thread(target=self._drain, args=(process,), daemon=True).start()
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def _drain(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self._log.append(line.decode("utf-8", "replace").rstrip())

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                time.sleep(0.2)  # let the reader thread collect the last lines
                raise ServerStartError(
                    f"{self.label} exited with status {self._process.returncode} before it was "
                    f"ready; its last output:\n{self.log_tail()}")
            if self._healthy():
                return
            time.sleep(self.poll_seconds)
        raise ServerStartError(
            f"{self.label} on {self.url} was not healthy after {self.startup_timeout:.0f} s; "
            f"its last output:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False
