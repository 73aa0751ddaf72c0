"""`release_thread_pool` frees the calling thread's OpenMP team (libgomp, loaded by torch)."""

from __future__ import annotations

import os
import sys
import threading

import pytest
import torch

from guidance_engine.runtime.threads import release_thread_pool


def tasks() -> set[int]:
    return {int(tid) for tid in os.listdir("/proc/self/task")}


def team_of_this_thread() -> set[int]:
    """The helper threads libgomp starts for this thread's next parallel region."""
    release_thread_pool()
    before = tasks()
    torch.ones(1 << 20).mul_(2)  # large enough for ATen to run it as a parallel region
    return tasks() - before


@pytest.fixture
def two_threads() -> object:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield None
    torch.set_num_threads(threads)


def test_the_callers_team_is_freed_and_rebuilt_on_its_next_parallel_region(
    two_threads: object,
) -> None:
    team = team_of_this_thread()
    assert team, "torch ran no parallel region with 2 threads (no team to test with)"
    assert release_thread_pool() is True
    assert team & tasks() == set()
    assert team_of_this_thread()  # the thread still runs parallel regions afterwards


def test_only_the_calling_threads_team_is_freed(two_threads: object) -> None:
    """A worker's team survives a release on another thread: each thread frees its own."""
    ready, done = threading.Event(), threading.Event()
    teams: list[set[int]] = []

    def worker() -> None:
        teams.append(team_of_this_thread())
        ready.set()
        done.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    ready.wait(10)
    release_thread_pool()
    assert teams[0] and teams[0] <= tasks()
    done.set()
    thread.join()


def test_without_torch_nothing_is_looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs on the Mock or a remote server (no torch imported) cost no scan of the process."""
    from guidance_engine.runtime import threads

    def scan(prefix: str) -> None:
        raise AssertionError(f"looked for {prefix} without torch")

    monkeypatch.setattr(threads, "_gomp", None)
    monkeypatch.setattr(threads, "_loaded_path", scan)
    monkeypatch.delitem(sys.modules, "torch")
    assert release_thread_pool() is False


def test_a_torch_without_libgomp_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from guidance_engine.runtime import threads

    scans: list[str] = []
    monkeypatch.setattr(threads, "_gomp", None)
    monkeypatch.setattr(threads, "_absent", False)
    monkeypatch.setattr(threads, "_loaded_path", lambda prefix: scans.append(prefix))
    assert (release_thread_pool(), release_thread_pool()) == (False, False)
    assert scans == ["libgomp"]
