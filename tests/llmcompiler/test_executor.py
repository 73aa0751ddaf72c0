"""The task fetching unit, driven directly with parsed task lines and in-process tools."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from guidance_engine.llmcompiler.executor import TaskFetchingUnit
from guidance_engine.llmcompiler.plan import Task, parse_line
from guidance_engine.llmcompiler.tools import Arg, Latency, Tool
from guidance_engine.llmcompiler.trace import TaskRecord


def line(text: str) -> Task:
    task = parse_line(text)
    assert isinstance(task, Task)
    return task


def echo_tool(name: str = "echo", func: Callable[..., Any] | None = None) -> Tool:
    async def echo(*args: Any) -> Any:
        return args[0] if len(args) == 1 else list(args)

    return Tool(name, "", (Arg("x"), Arg("y", "list", required=False)), func or echo)


def run(lines: list[str], tools: list[Tool], **options: Any) -> dict[int, TaskRecord]:
    async def main() -> dict[int, TaskRecord]:
        unit = TaskFetchingUnit({tool.name: tool for tool in tools}, **options)
        for text in lines:
            unit.submit(line(text))
        return await unit.wait()

    return asyncio.run(main())


def test_references_are_substituted_in_strings_lists_and_bare() -> None:
    records = run(['1. echo("Everest is 8849 m")', '2. echo("K2 is 8611 m")',
                   '3. echo("$1 and ${2}; again $1", ["$2", [$1]])', "4. join()"], [echo_tool()])
    assert list(records) == [1, 2, 3]
    assert records[3].args == ["Everest is 8849 m and K2 is 8611 m; again Everest is 8849 m",
                               ["K2 is 8611 m", ["Everest is 8849 m"]]]
    assert records[3].observation == str(records[3].args)


def test_bare_reference_passes_the_result_value_itself() -> None:
    async def number(x: Any) -> Any:
        return 42 if x == "n" else x

    records = run(['1. num("n")', "2. num($1)"], [echo_tool("num", number)])
    assert records[2].args == [42]


def test_missing_and_forward_references_become_error_observations() -> None:
    records = run(['1. echo("a")', '3. echo("$2")', '4. echo("$4")', '5. echo("$9")'],
                  [echo_tool()])
    assert records[3].observation == "Error: $2 refers to task 2, which does not exist"
    assert records[4].observation == "Error: $4 refers to a task that does not come before task 4"
    assert records[5].error and records[1].observation == "a"


def test_failures_timeouts_and_unknown_tools_are_observations_not_crashes() -> None:
    def boom(x: str) -> str:
        raise ValueError(f"no page for {x}")

    async def hang(x: str) -> str:
        await asyncio.sleep(30)  # far beyond the timeout; if it is ignored, "y" comes back
        return x

    # The timeout applies to every tool, including `boom` in its worker thread: 1 s leaves a
    # slow thread start room to raise its ValueError first.
    tools = [Tool.from_function(boom, "boom"), Tool.from_function(hang, "hang"), echo_tool()]
    records = run(['1. boom("x")', '2. hang("y")', '3. nope("z")', '4. echo("$1")',
                   '5. echo("fine")'], tools, timeout=1.0)
    assert records[1].observation == "Error: ValueError: no page for x"
    assert records[2].observation == "Error: hang timed out after 1.0 s"
    assert records[3].observation == "Error: unknown tool 'nope'; the tools are boom, hang, echo"
    assert records[4].observation == "Error: not run because task 1 failed"
    assert (records[5].observation, records[5].error) == ("fine", False)


def test_a_tool_that_raises_timeout_error_itself_is_not_reported_as_our_timeout() -> None:
    async def slow_api(x: str) -> str:
        raise TimeoutError(f"the API did not answer for {x}")

    tools = [Tool.from_function(slow_api, "slow_api")]
    for timeout in (None, 5.0):
        records = run(['1. slow_api("Everest")'], tools, timeout=timeout)
        assert records[1].observation == "Error: TimeoutError: the API did not answer for Everest"
        assert records[1].error


def test_duplicate_task_numbers_are_reported() -> None:
    records = run(['1. echo("a")', '1. echo("b")'], [echo_tool()])
    assert records[1].observation == "Error: task number 1 is used twice"


def test_independent_tasks_run_at_the_same_time() -> None:
    """Each task waits until all k are running: a sequential executor would never finish."""
    k = 5
    running: list[int] = []
    everyone = asyncio.Event()

    async def rendezvous(x: str) -> str:
        running.append(1)
        if len(running) == k:
            everyone.set()
        await asyncio.wait_for(everyone.wait(), 5)
        return x

    records = run([f'{i}. meet("{i}")' for i in range(1, k + 1)],
                  [Tool.from_function(rendezvous, "meet")])
    assert [r.observation for r in records.values()] == [str(i) for i in range(1, k + 1)]
    intervals = [(r.start, r.end) for r in records.values()]
    assert max(s for s, _ in intervals) < min(e for _, e in intervals)  # all overlap


def test_latency_overlaps_so_k_calls_of_l_take_about_l() -> None:
    tool = echo_tool().with_latency(Latency.fixed(0.05))
    records = run([f'{i}. echo("{i}")' for i in range(1, 7)], [tool])
    intervals = [(r.start, r.end) for r in records.values()]
    assert max(s for s, _ in intervals) < min(e for _, e in intervals)


def test_a_task_starts_when_its_last_dependency_resolves_not_before() -> None:
    order: list[str] = []
    gates = {"a": asyncio.Event(), "b": asyncio.Event()}

    async def step(x: str) -> str:
        order.append(f"start {x}")
        if x in gates:
            await gates[x].wait()
        order.append(f"end {x}")
        return x

    async def main() -> None:
        unit = TaskFetchingUnit({"step": Tool.from_function(step, "step")})
        for text in ['1. step("a")', '2. step("b")', '3. step("$1+$2")', '4. step("c")']:
            unit.submit(line(text))
        await asyncio.sleep(0.01)
        gates["b"].set()
        await asyncio.sleep(0.01)
        assert "start a+b" not in order
        gates["a"].set()
        await unit.wait()

    asyncio.run(main())
    assert order == ["start a", "start b", "start c", "end c", "end b", "end a", "start a+b",
                     "end a+b"]


def test_concurrency_limit_is_respected() -> None:
    active: list[int] = []
    peak: list[int] = []

    async def work(x: str) -> str:
        active.append(1)
        peak.append(len(active))
        await asyncio.sleep(0.001)
        active.pop()
        return x

    run([f'{i}. work("{i}")' for i in range(1, 9)], [Tool.from_function(work, "work")],
        max_concurrency=2)
    assert max(peak) == 2
