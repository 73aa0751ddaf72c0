"""The model worker runs alone in the OpenMP sense: once a program starts, the caller's thread
holds no OpenMP team, whatever torch it ran before (issue 16). Two teams in one process on
few cores make libgomp's idle helpers sleep between parallel regions, and every forward pass
then runs at about one-thread speed; here the helper threads themselves are checked, from a
forward hook, so the test needs no timing."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import torch

import guidance_engine as guidance
from guidance_engine.llms.transformers import Transformers
from guidance_engine.runtime.threads import release_thread_pool

TEMPLATE = "The capital of France is{{gen 'city' max_tokens=3}}"


def tasks() -> set[int]:
    return {int(tid) for tid in os.listdir("/proc/self/task")}


@pytest.fixture
def seen(smol_llm: Transformers) -> Iterator[list[tuple[int, set[int]]]]:
    """(thread, live thread ids) at the start of every forward pass."""
    records: list[tuple[int, set[int]]] = []
    handle = smol_llm.model.register_forward_pre_hook(
        lambda *_: records.append((threading.get_ident(), tasks())))
    yield records
    handle.remove()


def callers_team() -> set[int]:
    """Run torch on this thread, as a notebook that loaded a model does; its OpenMP team."""
    release_thread_pool()
    before = tasks()
    torch.ones(1 << 20).mul_(2)
    team = tasks() - before
    assert team, "torch ran no parallel region with 2 threads (no team to test with)"
    return team


def test_a_sync_call_runs_the_model_while_the_callers_team_is_gone(
    smol_llm: Transformers, two_threads: None, seen: list[tuple[int, set[int]]],
) -> None:
    team = callers_team()
    out = guidance(TEMPLATE, llm=smol_llm)()
    assert out["city"]
    assert seen and all(thread != threading.get_ident() for thread, _ in seen)
    assert [live & team for _, live in seen] == [set()] * len(seen)


def test_an_awaited_run_releases_the_team_of_the_loops_thread(
    smol_llm: Transformers, two_threads: None, seen: list[tuple[int, set[int]]],
) -> None:
    async def main() -> tuple[Any, set[int]]:
        team = callers_team()  # torch on the event loop's thread
        program = guidance(TEMPLATE, llm=smol_llm, async_mode=True)
        return await program(), team

    out, team = asyncio.run(main())
    assert out["city"]
    assert seen and [live & team for _, live in seen] == [set()] * len(seen)


def test_streamed_events_release_the_team_of_the_consumers_thread(
    smol_llm: Transformers, two_threads: None, seen: list[tuple[int, set[int]]],
) -> None:
    async def main() -> set[int]:
        team = callers_team()
        async for _ in guidance(TEMPLATE, llm=smol_llm).events():
            pass
        return team

    team = asyncio.run(main())
    assert seen and [live & team for _, live in seen] == [set()] * len(seen)
