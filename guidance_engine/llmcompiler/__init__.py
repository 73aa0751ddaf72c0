"""LLMCompiler on guidance_engine: a streaming planner, a task fetching unit, parallel tools and
a joiner that answers or replans; plus a ReAct baseline with the same tools.

    from guidance_engine.llmcompiler import LLMCompiler, Tool
    agent = LLMCompiler([Tool.from_function(lookup)], llm=guidance.llms.Transformers())
    result = await agent.arun("Which is taller, the Eiffel Tower or Big Ben?")
    result.answer, result.trace.tasks

Modules, in pipeline order: `tools` (tool definitions, simulated latency), `docstore` (the
`search` tool), `math_tool`, `plan` (task lines and their streaming parser), `plan_grammar`,
`planner`, `executor` (the task fetching unit), `joiner`, `settings` (checks on what an agent
is given), `agent` (`LLMCompiler`), `react`, `trace`, `jsonfile` (reading user JSON files),
`benchmarks` (data sets), `evaluate` (scoring), `runner` (the store file), `cli`.
"""

from guidance_engine.llmcompiler.agent import LLMCompiler
from guidance_engine.llmcompiler.docstore import Doc, Docstore
from guidance_engine.llmcompiler.executor import TaskFetchingUnit
from guidance_engine.llmcompiler.math_tool import MathTool
from guidance_engine.llmcompiler.plan import PlanStream, Ref, Task, Thought, parse_line
from guidance_engine.llmcompiler.plan_grammar import plan_grammar
from guidance_engine.llmcompiler.react import ReAct
from guidance_engine.llmcompiler.tools import Arg, Latency, Tool
from guidance_engine.llmcompiler.trace import AgentResult, Trace

__all__ = [
    "AgentResult",
    "Arg",
    "Doc",
    "Docstore",
    "LLMCompiler",
    "Latency",
    "MathTool",
    "PlanStream",
    "ReAct",
    "Ref",
    "Task",
    "TaskFetchingUnit",
    "Thought",
    "Tool",
    "Trace",
    "parse_line",
    "plan_grammar",
]
