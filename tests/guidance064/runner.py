"""Runs tests/guidance064/cases.py in the real guidance 0.0.64 and prints what it observed as JSON.

Run by tests/test_guidance064_differential.py with the side venv's Python (build/g064-venv,
`make g064`), never with ours: `python runner.py [CASE_NAME ...]` (all cases when none is
named) or `python runner.py --random SEED COUNT` (tests/guidance064/generated.py). For each
case: per call, `str(program)`, `program.text`, the user's variables and whether the call
failed; and every generation request the Mock received (prompt, stop, stop_regex, max_tokens,
n, temperature). 0.0.64 prints a traceback when a program fails; that goes to stderr so stdout
stays JSON."""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import guidance

_spec = importlib.util.spec_from_file_location("g064_cases", Path(__file__).with_name("cases.py"))
assert _spec is not None and _spec.loader is not None
cases = importlib.util.module_from_spec(_spec)
sys.modules["g064_cases"] = cases  # dataclasses look their module up while the file runs
_spec.loader.exec_module(cases)


class _NoWaitThrottler(guidance._program.DisplayThrottler):  # type: ignore[misc]
    """0.0.64 spaces display updates 0.1 s apart even with no display, and each program waits
    for its last one; the runner has no display, so it does not wait."""

    def __init__(self, display_function: Any, throttle_limit: float) -> None:
        super().__init__(display_function, 0)


guidance._program.DisplayThrottler = _NoWaitThrottler


class RecordingMock(guidance.llms.Mock):
    """0.0.64's Mock, recording the generation requests (select's one-token probes are not)."""

    def __init__(self, output: Any) -> None:
        super().__init__(output)
        self.gens: list[dict[str, Any]] = []

    def __call__(self, prompt: str, *args: Any, **kwargs: Any) -> Any:
        if "logit_bias" not in kwargs:
            self.gens.append({
                "prompt": prompt,
                "stop": _as_list(kwargs.get("stop")),
                "stop_regex": _as_list(kwargs.get("stop_regex")),
                "max_tokens": kwargs.get("max_tokens"),
                "n": kwargs.get("n", 1),
                "temperature": kwargs.get("temperature"),
            })
        return super().__call__(prompt, *args, **kwargs)

    def end_of_text(self) -> str:
        """select asks for it when nothing follows; 0.0.64's Mock lacks it (its OpenAI has it)."""
        return "<|endoftext|>"


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def run_case(case: Any) -> dict[str, Any]:
    llm = RecordingMock(copy.deepcopy(case.mock))
    runs: list[dict[str, Any]] = []
    try:
        program = guidance(case.template, llm=llm, async_mode=case.mode == "async",
                           stream=case.mode == "stream",
                           **cases.built(case.variables, guidance))
    except Exception as exc:  # a syntax error at construction
        return {"runs": [cases.failed(exc)], "gens": llm.gens}
    current = program
    runs.append({"str": str(program), "text": None, "variables": None, "error": None})
    for kwargs in case.runs:
        target = current if case.chain else program
        try:
            out = cases.call(target, case.mode, cases.built(kwargs, guidance))
        except Exception as exc:
            runs.append(cases.failed(exc))
            break
        if out._exception is not None:  # 0.0.64 keeps a run's error on the program
            runs.append(cases.failed(out._exception))
            break
        runs.append({"str": str(out), "text": out.text,
                     "variables": cases.visible_variables(out.variables()), "error": None})
        current = out
    return {"runs": runs, "gens": llm.gens}


def main(names: list[str]) -> None:
    if names[:1] == ["--random"]:  # --random SEED COUNT: the generated cases instead
        chosen = cases.random_cases(int(names[1]), int(names[2]))
    else:
        chosen = [c for c in cases.CASES if not names or c.name in names]
    results = {}
    with contextlib.redirect_stdout(sys.stderr):
        for case in chosen:
            results[case.name] = run_case(case)
    json.dump({"version": guidance.__version__, "cases": results}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
