"""What an agent run records: plans, tasks with their times, joiner decisions and token usage.

Times are seconds since the run started (`time.perf_counter` based). Token usage is summed from
the model-call records of every program the run executed (planner, joiner, the math tool, ReAct
steps); tools that call a model add to the usage of the run they are part of through
`current_usage()`::

    >>> usage = TokenUsage()
    >>> usage.add(input_tokens=120, output_tokens=8)
    >>> usage.as_dict()
    {'input_tokens': 120, 'output_tokens': 8, 'model_calls': 1}
"""

from __future__ import annotations

import contextvars
from dataclasses import asdict, dataclass, field
from typing import Any

from guidance_engine import events as ev
from guidance_engine.llms import GenStats


@dataclass
class TokenUsage:
    """Input (prompt) and output (sampled + forced) tokens over a run's model calls.

    `input_tokens` counts every prompt token sent; `processed_tokens` only those the model
    evaluated (the rest were reused from its prompt / KV cache)."""

    input_tokens: int = 0
    output_tokens: int = 0
    model_calls: int = 0
    processed_tokens: int = 0

    def add(self, input_tokens: int, output_tokens: int, calls: int = 1,
            processed_tokens: int | None = None) -> None:
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.model_calls += calls
        self.processed_tokens += input_tokens if processed_tokens is None else processed_tokens

    def merge(self, other: TokenUsage) -> None:
        self.add(other.input_tokens, other.output_tokens, other.model_calls,
                 other.processed_tokens)

    def add_log(self, log: Any) -> None:
        """Add the `ModelCallRecord`s of an executed program's `log` (a list, or False)."""
        for record in log if isinstance(log, list) else ():
            if isinstance(record, ev.ModelCallRecord):
                self.add_stats(record.stats)

    def add_stats(self, stats: GenStats) -> None:
        self.add(stats.prompt_tokens, stats.sampled_tokens + stats.forced_tokens,
                 processed_tokens=stats.fed_tokens)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


_USAGE: contextvars.ContextVar[TokenUsage | None] = contextvars.ContextVar(
    "llmcompiler_usage", default=None
)


def current_usage() -> TokenUsage | None:
    """The usage of the agent run this code is part of (None outside a run)."""
    return _USAGE.get()


def use_usage(usage: TokenUsage) -> contextvars.Token[TokenUsage | None]:
    return _USAGE.set(usage)


def reset_usage(token: contextvars.Token[TokenUsage | None]) -> None:
    _USAGE.reset(token)


@dataclass
class TaskRecord:
    """One executed task: what the plan said, what ran, what came back, and when."""

    index: int
    tool: str
    line: str
    args: list[Any]  # after `$N` substitution (what the tool received)
    observation: str = ""
    error: bool = False
    start: float | None = None
    end: float | None = None
    plan: int = 0  # 0 for the first plan, 1 for the first replan, ...


@dataclass
class PlanRecord:
    text: str
    start: float
    end: float
    tasks: list[int] = field(default_factory=list)
    error: str | None = None  # a line that did not parse (only without a grammar), a refused task


@dataclass
class JoinerRecord:
    thought: str
    action: str  # 'Finish' or 'Replan'
    argument: str  # the answer, or the reason to replan
    start: float
    end: float


@dataclass
class ReactStep:
    thought: str
    action: str
    observation: str
    start: float
    end: float


@dataclass
class Trace:
    """Everything a run did; `as_dict()` is what the benchmark store file keeps."""

    question: str
    plans: list[PlanRecord] = field(default_factory=list)
    tasks: list[TaskRecord] = field(default_factory=list)
    joins: list[JoinerRecord] = field(default_factory=list)
    steps: list[ReactStep] = field(default_factory=list)  # ReAct only
    usage: TokenUsage = field(default_factory=TokenUsage)
    latency: float = 0.0

    @property
    def replans(self) -> int:
        return max(0, len(self.plans) - 1)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["replans"] = self.replans
        return data


@dataclass(frozen=True)
class AgentResult:
    """What `arun` returns: the answer (None when the agent gave up) and the trace."""

    answer: str | None
    trace: Trace
