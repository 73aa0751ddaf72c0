from __future__ import annotations

import asyncio
import threading

import pytest

from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler.tools import Arg, Latency, Tool


def test_from_function_reads_argument_kinds_and_describes_the_tool() -> None:
    def area(name: str, sizes: list[float], scale: float = 1.0) -> str:
        """Area of a shape."""
        return name

    tool = Tool.from_function(area)
    assert tool.args == (Arg("name", "str"), Arg("sizes", "list"),
                         Arg("scale", "number", required=False))
    assert tool.description == "area(name: str, sizes: list, scale: number = ...): Area of a shape."


def test_sync_tools_run_off_the_event_loop_and_async_tools_on_it() -> None:
    loop_thread: list[int] = []

    def sync_tool(x: str) -> str:
        return f"{x}:{threading.get_ident() != loop_thread[0]}"

    async def async_tool(x: str) -> str:
        return f"{x}:{threading.get_ident() != loop_thread[0]}"

    async def main() -> list[str]:
        loop_thread.append(threading.get_ident())
        return [await Tool.from_function(sync_tool).call(["a"]),
                await Tool.from_function(async_tool).call(["b"])]

    assert asyncio.run(main()) == ["a:True", "b:False"]


def test_wrong_argument_count_is_reported_with_the_tool_name() -> None:
    tool = Tool("search", "search(q)", (Arg("q"), Arg("k", "number", required=False)), str)
    with pytest.raises(GuidanceError) as error:
        asyncio.run(tool.call([]))
    assert str(error.value) == "search() takes 1 to 2 argument(s); got 0 (missing q)"


def test_bad_tool_definitions_are_refused() -> None:
    with pytest.raises(GuidanceError) as error:
        Tool("join", "", (), str)
    assert str(error.value) == ("tool name 'join' is not usable: expected a Python identifier "
                                "other than 'join'")
    with pytest.raises(GuidanceError) as error:
        Tool("t", "", (Arg("a", required=False), Arg("b")), str)
    assert str(error.value) == "tool 't': required argument 'b' follows an optional one"
    with pytest.raises(GuidanceError, match="has kind 'dict'"):
        Arg("a", "dict")  # type: ignore[arg-type]


def test_latency_is_seeded_per_call_and_independent_of_call_order() -> None:
    latency = Latency.paper(seed=3)
    draws = [latency.draw("search", (f"q{i}",)) for i in range(400)]
    assert draws == [latency.draw("search", (f"q{i}",)) for i in range(400)]
    assert draws != [Latency.paper(seed=4).draw("search", (f"q{i}",)) for i in range(400)]
    stragglers = [d for d in draws if d >= 1.0]
    assert 0.08 < len(stragglers) / len(draws) < 0.25
    assert all(0.4 <= d <= 0.6 or 1.0 <= d <= 1.2 for d in draws)
    assert 0.55 < sum(draws) / len(draws) < 0.7
    assert Latency.fixed(0.25).draw("x", ()) == 0.25
    assert Latency().draw("x", ()) == 0.0
    assert Latency.parse("paper", seed=3) == latency
    with pytest.raises(GuidanceError, match="tool latency 'slow' is not understood"):
        Latency.parse("slow")


def test_a_tool_whose_func_or_args_cannot_run_is_refused_when_defined() -> None:
    with pytest.raises(GuidanceError) as error:
        Tool("search", "search(q)", (Arg("q"),), "lookup")  # type: ignore[arg-type]
    assert str(error.value) == "tool 'search': func is a str; expected a function (sync or async)"
    with pytest.raises(GuidanceError) as error:
        Tool("search", "search(q)", ("q",), str)  # type: ignore[arg-type]
    assert str(error.value) == ("tool 'search': args is ('q',); expected a tuple of "
                                "Arg(name, kind)")
    with pytest.raises(GuidanceError) as error:
        Tool(7, "", (), str)  # type: ignore[arg-type]
    assert str(error.value) == ("tool name 7 is not usable: expected a Python identifier other "
                                "than 'join'")
    assert Tool("t", "", [Arg("q")], str).args == (Arg("q"),)  # type: ignore[arg-type]


def test_from_function_refuses_parameters_a_plan_cannot_write() -> None:
    def lookup(*names: str) -> str:
        return ""

    def pick(options: dict[str, int]) -> str:
        return ""

    def flag(on: bool) -> str:
        return ""

    with pytest.raises(GuidanceError) as error:
        Tool.from_function(lookup)
    assert str(error.value) == ("tool 'lookup': parameter *names cannot be given in a plan; "
                                "expected positional parameters (or keyword-only ones with "
                                "defaults)")
    with pytest.raises(GuidanceError) as error:
        Tool.from_function(pick)
    assert str(error.value) == ("tool 'pick': parameter 'options' is annotated dict[str, int], "
                                "which a plan cannot write; expected str, int, float, list or "
                                "tuple")
    with pytest.raises(GuidanceError) as error:
        Tool.from_function(flag)
    assert str(error.value) == ("tool 'flag': parameter 'on' is annotated bool, which a plan "
                                "cannot write; expected str, int, float, list or tuple")


def test_from_function_leaves_out_what_a_plan_never_passes_and_reads_optional_kinds() -> None:
    def search(query: str, limit: int | None = None, *, verbose: bool = False,
               **options: object) -> str:
        return query

    assert Tool.from_function(search).args == (Arg("query"),
                                               Arg("limit", "number", required=False))


def test_latency_must_be_a_finite_number_of_seconds() -> None:
    for text in ("-1", "nan", "inf"):
        with pytest.raises(GuidanceError) as error:
            Latency.parse(text)
        assert str(error.value) == (f"tool latency {text!r} is not understood; expected "
                                    "seconds >= 0 (e.g. 0.6) or 'paper'")
    assert Latency.parse("0.6") == Latency(base=0.6)
