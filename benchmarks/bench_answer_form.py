"""How well the answer-form rules (`llmcompiler/answer_form.py`) fit the shared questions.

The rules were written on the even positions of each subset's question file (the design half);
this prints, for each half, how many questions get each form and for how many the expected answer
has that form (yes/no answers for yes/no, the expected answer among the options for a choice, a
number for a number). No model runs. A "which" question that lists no alternatives takes its
options from the names the agent looked up; here those are simulated by the docstore titles and
aliases that the question contains (what a plan that searched every named entity would have)::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_answer_form.py [--half design|report|both]
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter

from guidance_engine.llmcompiler.answer_form import AnswerForm, answer_form
from guidance_engine.llmcompiler.benchmarks import BENCHMARKS, load_benchmark
from guidance_engine.llmcompiler.evaluate import normalize_answer

_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def fits(form: AnswerForm, expected: str) -> bool:
    want = normalize_answer(expected)
    if form.kind == "yes_no":
        return want in ("yes", "no")
    if form.kind == "choice":
        return want in {normalize_answer(option) for option in form.options}
    if form.kind == "number":
        return bool(_NUMBER.fullmatch(expected.replace(",", "").strip()))
    return want not in ("yes", "no")  # free text: right unless a yes/no was missed


def names(bench_name: str, question: str) -> list[str]:
    bench = load_benchmark(bench_name)
    records = json.loads(bench.docs_path.read_text(encoding="utf-8"))
    found = []
    for record in records:
        for name in [record["title"], *record.get("aliases", [])]:
            if re.search(rf"\b{re.escape(name)}\b", question, re.IGNORECASE):
                found.append(name)
    return found


def report(half: str) -> None:
    for name in BENCHMARKS:
        questions = load_benchmark(name).questions
        chosen = [q for i, q in enumerate(questions) if (i % 2 == 0) == (half == "design")]
        kinds: Counter[str] = Counter()
        good: Counter[str] = Counter()
        for q in chosen:
            form = answer_form(q.question, names(name, q.question))
            kinds[form.kind] += 1
            good[form.kind] += fits(form, q.answer)
        total = sum(good.values())
        parts = ", ".join(f"{k} {good[k]}/{kinds[k]}" for k in sorted(kinds))
        print(f"{name:10} {half:6} half: {total}/{len(chosen)} fit their form ({parts})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--half", choices=("design", "report", "both"), default="both")
    args = parser.parse_args()
    for half in (("design", "report") if args.half == "both" else (args.half,)):
        report(half)


if __name__ == "__main__":
    main()
