"""In a real kernel (jupyter_client): after a cell ran torch on the kernel's thread, a program's
forward passes run while that thread's OpenMP team is gone (issue 16). With the team alive the
model worker would decode at about one-thread speed; the helper threads are checked from a
forward hook, so nothing is timed."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.model

SETUP = """
import os, threading, torch
import guidance_engine as guidance
torch.set_num_threads(2)
llm = guidance.llms.Transformers()

def tasks():
    return {int(t) for t in os.listdir("/proc/self/task")}

seen = []
llm.model.register_forward_pre_hook(lambda *_: seen.append(tasks()))
"""
TEAM = """
from guidance_engine.runtime.threads import release_thread_pool
release_thread_pool()
before = tasks()
torch.ones(1 << 20).mul_(2)  # a parallel region on the kernel's thread, as any cell may run
team = tasks() - before
"""
RUN = """
out = guidance("The capital of France is{{gen 'city' max_tokens=3}}", llm=llm)()
print(json.dumps({"team": len(team), "passes": len(seen),
                  "overlap": [sorted(live & team) for live in seen]}))
"""


def test_the_kernel_threads_team_is_gone_while_a_program_decodes(kernel: Any) -> None:
    kernel.check(SETUP)
    kernel.check(TEAM)
    report = json.loads(kernel.check("import json\n" + RUN).strip().splitlines()[-1])
    assert report["team"] >= 1
    assert report["passes"] >= 1
    assert report["overlap"] == [[]] * report["passes"]
