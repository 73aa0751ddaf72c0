"""Scoring a benchmark run: accuracy, latency and token statistics, and ratios to a baseline.

Answers are compared as LLMCompiler does: lower case, no punctuation, no articles, single spaces;
when the expected answer is a number, the first number in the prediction counts as correct within
±10%::

    >>> is_correct("The Mariana Trench.", "Mariana Trench"), is_correct("about 112 m", "110.12")
    (True, True)
"""

from __future__ import annotations

import math
import re
import statistics
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NUMERIC_TOLERANCE = 0.10
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, punctuation and articles removed, spaces collapsed."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _number(text: str) -> float | None:
    match = _NUMBER.search(text.replace(",", ""))
    return float(match.group(0)) if match else None


def is_correct(prediction: str | None, expected: str) -> bool:
    if prediction is None:
        return False
    if normalize_answer(prediction) == normalize_answer(expected):
        return True
    want = _number(expected) if _NUMBER.fullmatch(expected.replace(",", "").strip()) else None
    got = _number(prediction)
    if want is None or got is None:
        return False
    return abs(got - want) <= NUMERIC_TOLERANCE * abs(want)


@dataclass(frozen=True)
class Summary:
    """Figures over the answered questions of one store file."""

    n: int
    accuracy: float
    latency_mean: float
    latency_median: float
    latency_std: float
    input_tokens: float  # mean per question
    output_tokens: float
    replans: float
    processed_tokens: float = 0.0  # input tokens the model evaluated (not reused from a cache)
    accuracy_ci: tuple[float, float] = (0.0, 0.0)  # Wilson 95% interval
    latency_first: float = 0.0  # the first question answered (a cold server or model)
    latency_warm: float = 0.0  # mean over the others

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("questions", str(self.n)),
            ("accuracy", f"{self.accuracy:.1%}"),
            ("accuracy 95% CI", f"{self.accuracy_ci[0]:.1%}-{self.accuracy_ci[1]:.1%}"),
            ("latency mean (s)", f"{self.latency_mean:.2f}"),
            ("latency median (s)", f"{self.latency_median:.2f}"),
            ("latency std (s)", f"{self.latency_std:.2f}"),
            ("latency first question (s)", f"{self.latency_first:.2f}"),
            ("latency mean of the rest (s)", f"{self.latency_warm:.2f}"),
            ("input tokens / question", f"{self.input_tokens:.0f}"),
            ("processed tokens / question", f"{self.processed_tokens:.0f}"),
            ("output tokens / question", f"{self.output_tokens:.0f}"),
            ("replans / question", f"{self.replans:.2f}"),
        ]


def summarize(results: Mapping[str, Mapping[str, Any]]) -> Summary:
    """`results` is a store file's `results`: id -> {answer, label, latency, usage, replans}."""
    records = list(results.values())
    if not records:
        return Summary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    latencies = [float(r["latency"]) for r in records]
    right = sum(is_correct(r.get("answer"), str(r["label"])) for r in records)
    return Summary(
        n=len(records),
        accuracy=right / len(records),
        latency_mean=statistics.fmean(latencies),
        latency_median=statistics.median(latencies),
        latency_std=statistics.pstdev(latencies),
        input_tokens=statistics.fmean(r["usage"]["input_tokens"] for r in records),
        output_tokens=statistics.fmean(r["usage"]["output_tokens"] for r in records),
        replans=statistics.fmean(r.get("replans", 0) for r in records),
        # Stores written before processed tokens were counted: every input token was processed.
        processed_tokens=statistics.fmean(
            r["usage"].get("processed_tokens", r["usage"]["input_tokens"]) for r in records),
        accuracy_ci=wilson(right, len(records)),
        latency_first=latencies[0],
        latency_warm=statistics.fmean(latencies[1:]) if len(latencies) > 1 else latencies[0],
    )


def wilson(right: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of `right` successes in `n` trials.

        >>> tuple(round(x, 3) for x in wilson(5, 10))
        (0.237, 0.763)
    """
    if n == 0:
        return (0.0, 0.0)
    p = right / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def format_summary(summary: Summary) -> str:
    width = max(len(name) for name, _ in summary.rows())
    return "\n".join(f"{name:<{width}}  {value}" for name, value in summary.rows())


def format_comparison(run: Summary, baseline: Summary, names: Sequence[str] = ("run",
                      "baseline")) -> str:
    """Side by side, with baseline/run ratios for latency and tokens (>1: the run is better)."""
    def ratio(base: float, mine: float) -> str:
        return f"{base / mine:.2f}x" if mine else "n/a"

    rows = [("", names[0], names[1], "ratio (baseline / run)")]
    for (name, mine), (_, base) in zip(run.rows(), baseline.rows(), strict=True):
        rows.append((name, mine, base, ""))
    ratios = {
        "latency mean (s)": ratio(baseline.latency_mean, run.latency_mean),
        "latency median (s)": ratio(baseline.latency_median, run.latency_median),
        "latency first question (s)": ratio(baseline.latency_first, run.latency_first),
        "latency mean of the rest (s)": ratio(baseline.latency_warm, run.latency_warm),
        "input tokens / question": ratio(baseline.input_tokens, run.input_tokens),
        "processed tokens / question": ratio(baseline.processed_tokens,
                                                   run.processed_tokens),
        "output tokens / question": ratio(baseline.output_tokens, run.output_tokens),
    }
    rows = [(a, b, c, ratios.get(a, d)) for a, b, c, d in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)
