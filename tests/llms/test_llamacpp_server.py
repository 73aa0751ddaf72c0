"""The llama.cpp server launcher: starts healthy on a free loopback port, always stops."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from guidance_engine.llms.llamacpp_server import LlamaCppServer, ServerStartError


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError) as info:
        LlamaCppServer(model=tmp_path / "none.gguf").start()
    assert str(info.value) == f"llama.cpp server: model file not found: {tmp_path / 'none.gguf'}"


def test_a_file_that_is_not_a_model_reports_the_server_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file")
    server = LlamaCppServer(model=bad)
    with pytest.raises(ServerStartError, match=r"exited with status .* before it was ready"):
        server.start()
    assert not server.running


@pytest.mark.server
def test_context_manager_serves_and_stops() -> None:
    with LlamaCppServer(n_threads=1, n_ctx=512, alias="tiny") as server:
        assert server.host == "127.0.0.1" and server.running
        with urllib.request.urlopen(f"{server.base_url}/models") as response:
            assert json.loads(response.read())["data"][0]["id"] == "tiny"
        process = server._process
        assert process is not None
    assert process.poll() is not None and not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(process.pid, 0)
