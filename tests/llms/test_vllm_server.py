"""VLLMServer without a server: the command line it runs, the error when vLLM is not installed,
and the child's death with its parent (the same exec wrapper, around `sleep` instead of vLLM)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from guidance_engine.llms.child_server import ServerStartError
from guidance_engine.llms.vllm_server import _EXEC_WITH_PDEATHSIG, VLLMServer


def test_a_missing_vllm_environment_names_make_vllm(tmp_path: Path) -> None:
    server = VLLMServer(model=tmp_path, python=tmp_path / "bin" / "python")
    with pytest.raises(ServerStartError) as info:
        server.start()
    assert str(info.value) == (
        f"vLLM server: no vLLM environment at {tmp_path / 'bin' / 'python'}; run `make vllm` "
        f"(installs the CPU build into build/vllm-venv) or set $GUIDANCE_VLLM_PYTHON")


def test_the_command_serves_the_model_on_loopback(tmp_path: Path) -> None:
    server = VLLMServer(model=tmp_path / "m", tokenizer=tmp_path / "t", python="/py", port=8123,
                        extra_args=("--seed", "1"))
    command = server.command()
    assert command[:2] == ["/py", "-c"] and command[3:7] == [
        str(os.getpid()), "/py", "-m", "vllm.entrypoints.openai.api_server"]
    def option(name: str) -> str:
        return command[command.index(name) + 1]

    assert [option(o) for o in ("--model", "--tokenizer", "--host", "--port", "--dtype")] == [
        str(tmp_path / "m"), str(tmp_path / "t"), "127.0.0.1", "8123", "float32"]
    assert command[-2:] == ["--seed", "1"] and "--enable-prompt-tokens-details" in command


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent (init) has yet to reap it


def test_the_child_gets_sigterm_when_its_parent_is_killed() -> None:
    spawn = ("import subprocess, sys, os, time\n"
             f"p = subprocess.Popen([sys.executable, '-c', {_EXEC_WITH_PDEATHSIG!r}, "
             "str(os.getpid()), '/bin/sleep', '60'])\n"
             "print(p.pid, flush=True)\ntime.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", spawn], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    deadline = time.monotonic() + 10
    while _alive(child) and "sleep" not in Path(f"/proc/{child}/cmdline").read_text():
        assert time.monotonic() < deadline  # the wrapper has exec'd into sleep
        time.sleep(0.05)
    parent.kill()
    parent.wait()
    while _alive(child):
        assert time.monotonic() < deadline, "the child outlived its killed parent"
        time.sleep(0.05)
