"""Side by side with guidance 0.3.1: the same SmolLM2 weights, the same templates, one table.

    make bench-peers        # installs guidance 0.3.1 into build/peers-venv, then runs this
    .venv/bin/python benchmarks/bench_peers.py --peer-python build/peers-venv/bin/python \\
        [--rounds 3] [--threads 2] [--sections preamble rpg]

Each measurement runs in a fresh subprocess (our venv for this project, the peer venv for
guidance 0.3.1, whose pinned llguidance must not meet ours), so "first run" really is the first
in a process: the model and tokenizer are loaded (not timed), then the wrap
(`Transformers(model, tokenizer)`) and two runs of the template are timed. Both stacks load the
identical weights, our converted safetensors cache from `guidance_engine.llms.model_store`, and
the script first checks that their forward passes give the same logits. Rounds interleave the
stacks (ours, peer; peer, ours; ...) and the table shows medians, with the load average, because
other jobs share the two cores. Forward passes and fed tokens are counted by a forward hook on
the model, the same code for both stacks.

guidance 0.3.1 pins transformers 4.53; on transformers 5 one call breaks: it crops its cache with
`Cache.crop(keep_length)` where transformers 5 takes a negative count of tokens to remove. The
peer process wraps `Cache.crop` at run time to translate (no file in the peer venv is patched).

Sections:
  preamble  three short gens after a ~513-token preamble (issue 11's template)
  rpg       the README's RPG character template (items greedy, so both stacks do the same work)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PEER = "guidance-0.3.1"
OURS = "ours"
COLD = "ours, index not on disk"

_PLACES = ("market", "lighthouse", "archive", "tavern", "shipyard", "chapel", "customs house",
           "bridge")
PREAMBLE = (
    "The following notes describe a traveller who arrived at the harbour town of Vell.\n"
    + "".join(f"Day {i}: the traveller visited the {_PLACES[i % 8]} and spoke with {i + 2} "
              f"people about the old maps.\n" for i in range(1, 21))
    + "The traveller was Mara Quill, a cartographer, aged 34. "
    "The harbour clerk copied her papers:\n"
)
FIELDS = ("name", "age", "job")
OUR_PREAMBLE = PREAMBLE + "\n".join(
    f"{f.capitalize()}: {{{{gen '{f}' max_tokens=8 stop='\\n'}}}}" for f in FIELDS)

RPG_HEAD = ('The following is a character profile for an RPG game in JSON format.\n```json\n'
            '{\n    "id": "e1f491f7",\n    "name": "')
OUR_RPG = RPG_HEAD + """{{gen 'name'}}",
    "age": {{gen 'age' pattern='[0-9]+' stop=','}},
    "armor": "{{#select 'armor'}}leather{{or}}chainmail{{or}}plate{{/select}}",
    "items": [{{#geneach 'items' num_iterations=3 join=', '}}"{{gen 'this' temperature=0}}"\
{{/geneach}}]
}```"""


# -- worker side (runs inside one stack's venv) --------------------------------------------------


class PassLog:
    """Counts forward passes and fed tokens with a pre-hook on the model (same for both stacks)."""

    def __init__(self, model: Any) -> None:
        self.fed: list[int] = []
        model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, _module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.fed.append(int(ids.shape[-1]) if ids is not None else 0)

    def take(self) -> list[int]:
        out, self.fed = self.fed, []
        return out


def _load(model_dir: str, tokenizer_dir: str, threads: int) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(tokenizer_dir)


def _ours(model: Any, tok: Any, section: str) -> tuple[Any, Any]:
    """(wrapped model, run function) for this project."""
    import guidance_engine as guidance
    from guidance_engine.llms.transformers import Transformers

    llm = Transformers(model, tok)
    template = OUR_PREAMBLE if section == "preamble" else OUR_RPG

    def run() -> dict[str, Any]:
        out = guidance(template, llm=llm)()
        keys = FIELDS if section == "preamble" else ("name", "age", "armor", "items")
        return {k: out[k] for k in keys}

    return llm, run


def _shim_cache_crop() -> None:
    """guidance 0.3.1 calls `crop(keep)`; transformers 5 wants `crop(-remove)`."""
    from transformers.cache_utils import Cache

    original = Cache.crop

    def crop(self: Any, n: int) -> None:
        if n >= 0:  # a keep-length (transformers 4 meaning)
            n = -(int(self.get_seq_length()) - n)
            if n == 0:
                return
        original(self, n)

    Cache.crop = crop  # type: ignore[method-assign]


def _peer(model: Any, tok: Any, section: str) -> tuple[Any, Any]:
    """(wrapped model, run function) for guidance 0.3.1 (its own API, same templates)."""
    from guidance import gen, models, select  # type: ignore[import-not-found]

    lm0 = models.Transformers(model, tok)

    def run_preamble() -> dict[str, Any]:
        lm = lm0 + PREAMBLE
        for i, field in enumerate(FIELDS):
            lm += ("\n" if i else "") + f"{field.capitalize()}: "
            lm += gen(field, max_tokens=8, stop="\n")
        return {f: lm[f] for f in FIELDS}

    def run_rpg() -> dict[str, Any]:
        # max_tokens: without it 0.3.1 ran for minutes on this template (no output in 5 min)
        lm = lm0 + RPG_HEAD + gen("name", stop='"', max_tokens=50) + '",\n    "age": '
        lm += gen("age", regex="[0-9]+", stop=",", max_tokens=10) + ',\n    "armor": "'
        lm += select(["leather", "chainmail", "plate"], name="armor") + '",\n    "items": ['
        for i in range(3):
            lm += ('"' if i == 0 else ', "') + gen("items", stop='"', list_append=True,
                                                   temperature=0.0, max_tokens=50) + '"'
        lm += "]\n}```"
        return {"name": lm["name"], "age": lm["age"], "armor": lm["armor"],
                "items": list(lm["items"])}

    return lm0, run_preamble if section == "preamble" else run_rpg


def worker(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    model, tok = _load(args.model_dir, args.tokenizer_dir, args.threads)
    passes = PassLog(model)
    if args.stack == PEER:
        _shim_cache_crop()
    make = _peer if args.stack == PEER else _ours
    # Imports are not part of the wrap: load each stack's modules before the clock starts.
    if args.stack == PEER:
        import guidance  # type: ignore[import-not-found]  # noqa: F401
    else:
        import guidance_engine.llms.transformers  # noqa: F401
    result: dict[str, Any] = {}
    if args.section == "logits":
        wrapped, _ = make(model, tok, "preamble")
        ids = tok(PREAMBLE)["input_ids"]
        if args.stack == PEER:
            logits = np.asarray(wrapped._interpreter.engine.get_logits(ids)["logits"])[-1]
        else:
            from guidance_engine.llms.kv import KVCache

            logits = wrapped.extend(KVCache(), ids)[0].numpy()
        np.save(args.logits_out, logits.astype(np.float32))
        print(json.dumps({"vocab": int(logits.shape[-1])}))
        return
    start = time.perf_counter()
    _, run = make(model, tok, args.section)
    result["wrap"] = time.perf_counter() - start
    passes.take()
    for name in ("run1", "run2"):
        start = time.perf_counter()
        result[name + "_out"] = run()
        result[name] = time.perf_counter() - start
        result[name + "_fed"] = passes.take()
    result["torch_threads"] = torch.get_num_threads()
    print(json.dumps(result))


# -- driver side (our venv) ------------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    """One column of the comparison: which interpreter runs which worker, on which code."""

    label: str
    python: str
    worker: str  # OURS or PEER
    root: str = ""  # PYTHONPATH for our worker (a checkout of this repository)
    empty_cache: bool = False  # point GUIDANCE_ENGINE_CACHE at an empty directory


def _spawn(stack: Stack, section: str, paths: tuple[str, str], threads: int,
           logits_out: str = "") -> dict[str, Any]:
    cmd = [stack.python, __file__, "--worker", stack.worker, "--section", section,
           "--model-dir", paths[0], "--tokenizer-dir", paths[1], "--threads", str(threads),
           "--logits-out", logits_out]
    with tempfile.TemporaryDirectory() as empty:
        env = dict(os.environ, PYTHONPATH=stack.root)
        if stack.empty_cache:  # a token-index store nobody has written to yet
            env["GUIDANCE_ENGINE_CACHE"] = empty
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise SystemExit(f"{stack.label} worker failed ({section}):\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def check_logits(stacks: list[Stack], paths: tuple[str, str], threads: int) -> float:
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        outs = {}
        for stack in (stacks[0], stacks[-1]):  # ours and the peer
            target = os.path.join(tmp, f"{stack.worker}.npy")
            _spawn(stack, "logits", paths, threads, logits_out=target)
            outs[stack.worker] = np.load(target)
    diff = float(np.abs(outs[OURS] - outs[PEER]).max())
    same_top = int(outs[OURS].argmax()) == int(outs[PEER].argmax())
    print(f"logits after the {len(PREAMBLE)}-character preamble: max |ours - peer| = {diff:.2e}, "
          f"same argmax: {same_top}")
    if diff > 1e-3 or not same_top:
        raise SystemExit("the two stacks do not compute the same logits: not the same weights?")
    return diff


def _row(stack: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    med = {k: statistics.median(r[k] for r in runs) for k in ("wrap", "run1", "run2")}
    med["wrap_run1"] = statistics.median(r["wrap"] + r["run1"] for r in runs)
    last = runs[-1]
    return {"stack": stack, **med, "passes1": len(last["run1_fed"]), "fed1": sum(last["run1_fed"]),
            "passes2": len(last["run2_fed"]), "fed2": sum(last["run2_fed"]),
            "out": last["run1_out"], "same_outputs": all(
                r["run1_out"] == r["run2_out"] == last["run1_out"] for r in runs),
            "fed_list2": last["run2_fed"]}


def bench_section(section: str, stacks: list[Stack], paths: tuple[str, str], threads: int,
                  rounds: int) -> None:
    runs: dict[str, list[dict[str, Any]]] = {stack.label: [] for stack in stacks}
    loads = []
    for r in range(rounds):
        # Interleaved: each round starts with a different stack.
        for stack in stacks[r % len(stacks):] + stacks[: r % len(stacks)]:
            loads.append(os.getloadavg()[0])
            runs[stack.label].append(_spawn(stack, section, paths, threads))
    rows = [_row(stack.label, runs[stack.label]) for stack in stacks]
    _print_section(section, rows, loads, rounds, threads)


def _print_section(section: str, rows: list[dict[str, Any]], loads: list[float], rounds: int,
                   threads: int) -> None:
    peer = rows[-1]
    print(f"\n## {section}: medians of {rounds} interleaved rounds, {threads} torch threads, "
          f"load average {min(loads):.2f}-{max(loads):.2f} (1-min) during the section\n")
    print("| stack | wrap s | run 1 s | wrap + run 1 s | run 2 s | (wrap + run 1) / peer's "
          "| run 1 / peer's | run 2 / peer's | passes run 1 | fed run 1 | passes run 2 "
          "| fed run 2 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['stack']} | {row['wrap']:.3f} | {row['run1']:.3f} | "
              f"{row['wrap_run1']:.3f} | {row['run2']:.3f} | "
              f"{row['wrap_run1'] / peer['wrap_run1']:.2f} | {row['run1'] / peer['run1']:.2f} | "
              f"{row['run2'] / peer['run2']:.2f} | {row['passes1']} | {row['fed1']} | "
              f"{row['passes2']} | {row['fed2']} |")
    print()
    for row in rows:
        print(f"{row['stack']}: outputs {json.dumps(row['out'])}; same in every run: "
              f"{row['same_outputs']}; tokens per pass, run 2: {row['fed_list2']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer-python", default="build/peers-venv/bin/python")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sections", nargs="+", default=["preamble", "rpg"],
                        choices=["preamble", "rpg"])
    parser.add_argument("--baseline-root", default="",
                        help="another checkout of this repository to add as a row (before/after)")
    parser.add_argument("--worker", choices=[OURS, PEER], help=argparse.SUPPRESS)
    parser.add_argument("--section", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer-dir", help=argparse.SUPPRESS)
    parser.add_argument("--logits-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.stack = args.worker
        worker(args)
        return
    if not Path(args.peer_python).is_file():
        raise SystemExit(f"no peer venv at {args.peer_python}: run `make bench-peers` first")
    from guidance_engine.llms.model_store import model_dir, resolve_source, tokenizer_dir

    source = resolve_source(None)
    paths = (str(model_dir(source)), str(tokenizer_dir(source)))
    print(f"SmolLM2-135M-Instruct fp32 from {paths[0]}; {os.cpu_count()} CPUs")
    root = str(Path(__file__).resolve().parents[1])
    stacks = [Stack(OURS, sys.executable, OURS, root),
              Stack(COLD, sys.executable, OURS, root, empty_cache=True)]
    if args.baseline_root:
        label = f"ours at {Path(args.baseline_root).name}"
        stacks.append(Stack(label, sys.executable, OURS, str(Path(args.baseline_root).resolve())))
    stacks.append(Stack(PEER, args.peer_python, PEER))
    check_logits(stacks, paths, args.threads)
    for section in args.sections:
        bench_section(section, stacks, paths, args.threads, args.rounds)


if __name__ == "__main__":
    main()
