"""The default thread count of local models: physical cores the process may run on."""

from __future__ import annotations

import os
from typing import Any

import psutil
import pytest

from guidance_engine.llms import cpu
from guidance_engine.llms.llamacpp_server import LlamaCppServer


def machine(monkeypatch: Any, physical: int, logical: int, allowed: int) -> None:
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: physical)
    monkeypatch.setattr(os, "cpu_count", lambda: logical)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(allowed)))


@pytest.mark.parametrize(("physical", "logical", "allowed", "expected"), [
    (4, 8, 8, 4),  # hyper-threads do not count
    (4, 8, 2, 1),  # an affinity mask of 2 hyper-threads holds about one core
    (2, 2, 2, 2),  # this kind of machine: 2 cores, no hyper-threads
    (8, 8, 3, 3),  # a container's cpuset
    (1, 2, 1, 1),  # never 0
])
def test_physical_cores_counts_cores_the_process_may_use(
    monkeypatch: Any, physical: int, logical: int, allowed: int, expected: int
) -> None:
    machine(monkeypatch, physical, logical, allowed)
    assert cpu.physical_cores() == expected


def test_the_llamacpp_server_defaults_to_the_physical_cores(monkeypatch: Any) -> None:
    machine(monkeypatch, 4, 8, 8)
    assert LlamaCppServer().n_threads == 4
    assert LlamaCppServer(n_threads=1).n_threads == 1
