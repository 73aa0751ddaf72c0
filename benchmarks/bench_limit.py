"""Template runs next to their limit: the raw main-thread cost of exactly the passes they made.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_limit.py [--threads 2] \\
        [--kernel] [--no-release]

For each template (the README's, bench_peers' preamble template, a JSON-schema template) the
engine runs twice (run 1 is the first in its process, run 2 finds the prefix cached). A forward
pre-hook records every pass the engine made: its inputs (token ids, attention mask, positions,
logits kept) and its cache's length and batch. The limit T of a run is the time the same
passes take when replayed by hand on the main thread, each on a cache of the recorded length
(median of 3 replays) on transformers' own `DynamicCache` with torch's own products, while the
engine runs on its in-place cache (`llms/kv.py`) and few-row products (`llms/few_rows.py`);
the table shows run time / T, and run time / T_k, the same replay on the engine's products
(what is left over T_k is the engine's own work around the model). The same hook times the
engine per pass: `per-pass` compares the median interval between two decoding passes of a
40-token gen after a ~500-token prompt with a plain main-thread loop of `model(...)` + argmax
on a `DynamicCache` at the same context (and on the engine's kernels: an `InPlaceCache` and
few-row products), taking turns 3 times.
Time outside `forward` is split into mask, sample, commit (stops, text, chunk events) and the
rest (tokenizing, healing, the interpreter, events, thread hand-offs), per pass.

Every caller state runs in a fresh process: `clean` loads and warms the model on a helper
thread, so the main thread never ran torch; `used` runs one forward pass on the main thread
first, as a notebook or script that loaded the model there does. With `--kernel` the same
measurements run inside a real IPython kernel (jupyter_client), the engine showing its live
view as in a notebook. `--no-release` switches off the release of the caller's OpenMP team
(runtime/threads.py), to show what it changes. The machine is shared: the load average is
printed, and only ratios measured in one process are compared.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_peers import OUR_PREAMBLE, PREAMBLE
from bench_transformers import RPG

ROOT = Path(__file__).resolve().parents[1]
README = RPG  # the README's template, as bench_transformers times it
SCHEMA = {"type": "object",
          "properties": {"name": {"type": "string", "maxLength": 24},
                         "job": {"type": "string", "maxLength": 24},
                         "age": {"type": "integer"}},
          "required": ["name", "job", "age"], "additionalProperties": False}
JSON_TEMPLATE = PREAMBLE + "As JSON: {{gen 'person' json_schema=schema max_tokens=60}}"
TEMPLATES: dict[str, tuple[str, dict[str, Any]]] = {
    "readme": (README, {"id": "e1f491f7"}),
    "preamble": (OUR_PREAMBLE, {}),
    "json": (JSON_TEMPLATE, {"schema": SCHEMA}),
}
COUNT = PREAMBLE + "Then she counted from one to fifty: 1, 2, 3,{{gen 'n' max_tokens=40}}"


# -- what the engine did --------------------------------------------------------------------------


@dataclass
class Pass:
    kwargs: dict[str, Any]  # the model inputs, without the cache
    cache_len: int
    batch: int
    start: float


class Recorder:
    """A forward pre-hook noting each pass's inputs, cache shape and start time."""

    def __init__(self, model: Any) -> None:
        self.passes: list[Pass] = []
        self.on = True
        model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, _module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        if not self.on:
            return
        cache = kwargs.get("cache")
        length = int(cache.get_seq_length()) if cache is not None else 0
        ids = kwargs["input_ids"]
        inputs = {k: v for k, v in kwargs.items() if k not in ("cache", "use_cache")}
        self.passes.append(Pass(inputs, length, int(ids.shape[0]), time.perf_counter()))

    def take(self) -> list[Pass]:
        out, self.passes = self.passes, []
        return out


class Steps:
    """Wall time in the decode loop's steps outside forward (wrapped on the `Decoder` class,
    for this benchmark process)."""

    NAMES = ("_mask_step", "_sample_step", "_commit_step")

    def __init__(self) -> None:
        from guidance_engine.llms.transformers_decode import Decoder

        self.seconds = dict.fromkeys(self.NAMES, 0.0)
        for name in self.NAMES:
            setattr(Decoder, name, self._timed(name, getattr(Decoder, name)))

    def _timed(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
        return timed

    def take(self) -> dict[str, float]:
        out, self.seconds = self.seconds, dict.fromkeys(self.NAMES, 0.0)
        return out


# -- the limit: the same passes by hand on the main thread ---------------------------------------


def replay(llm: Any, passes: list[Pass], kernels: bool = False) -> float:
    """Seconds the passes take on this thread, each on a cache of its recorded length.

    The caches are transformers' own `DynamicCache` and the products torch's own (T is what
    plain transformers costs); with `kernels`, the products take the engine's few-row route
    (`llms/few_rows.py`), which T_k, the limit of the engine's own kernels, is made of."""
    import contextlib

    import torch
    from transformers import DynamicCache

    from guidance_engine.llms.few_rows import few_row_products

    longest = max(p.cache_len for p in passes)
    base = DynamicCache()
    if longest:
        with torch.inference_mode():
            llm.model(input_ids=torch.randint(100, 1000, (1, longest)), cache=base,
                      use_cache=True, logits_to_keep=1)
    total = 0.0
    for p in passes:
        cache = DynamicCache(ddp_cache_data=[
            (k[..., : p.cache_len, :].expand(p.batch, -1, -1, -1).contiguous(),
             v[..., : p.cache_len, :].expand(p.batch, -1, -1, -1).contiguous())
            for k, v in ((layer.keys, layer.values) for layer in base.layers)
        ]) if p.cache_len else DynamicCache()
        start = time.perf_counter()
        with torch.inference_mode(), few_row_products() if kernels else contextlib.nullcontext():
            out = llm.model(cache=cache, use_cache=True, **p.kwargs)
            out.logits[:, -1, :].float()
        total += time.perf_counter() - start
    return total


def limit(llm: Any, passes: list[Pass], kernels: bool = False) -> float:
    llm.recorder.on = False
    try:
        return statistics.median(replay(llm, passes, kernels) for _ in range(3))
    finally:
        llm.recorder.on = True


# -- one process: set up, then measure ------------------------------------------------------------


def on_thread(func: Callable[[], Any]) -> Any:
    """Run `func` on a new thread that ends afterwards (its OpenMP team goes with it)."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(func()))
    thread.start()
    thread.join()
    return out[0]


def prepare(threads: int, caller: str, release: bool = True) -> Any:
    """The default model, loaded and warmed; main-thread torch use only when caller='used'."""
    import torch

    from guidance_engine.llms.kv import KVCache
    from guidance_engine.llms.transformers import Transformers

    torch.set_num_threads(threads)
    if not release:
        import guidance_engine.runtime.program as program_module

        program_module.release_thread_pool = lambda: False  # type: ignore[assignment]

    def load() -> Any:
        llm = Transformers()
        llm.index, llm.end_ids  # noqa: B018  # the vocabulary table, as a wrap would load it
        llm.extend(KVCache(), llm.encode(PREAMBLE))  # first-pass warm-up
        return llm

    llm = on_thread(load)
    llm.first_use = _time_engine_tokenizer(llm)
    if caller == "used":
        llm.extend(KVCache(), llm.encode(PREAMBLE))  # the caller's thread runs torch
    llm.recorder, llm.steps = Recorder(llm.model), Steps()
    return llm


def _time_engine_tokenizer(llm: Any) -> list[float]:
    """Seconds spent building the constraint engine's tokenizer (once a process, on the
    first constrained gen, inside run 1), noted so it can be told from per-pass costs."""
    spent: list[float] = []
    index = llm.index
    make = getattr(index, "_make_engine", None)
    if make is None:
        return spent

    def timed() -> Any:
        start = time.perf_counter()
        try:
            return make()
        finally:
            spent.append(time.perf_counter() - start)

    index._make_engine = timed
    return spent


def run_template(llm: Any, name: str) -> dict[str, Any]:
    import guidance_engine as guidance

    template, variables = TEMPLATES[name]
    program = guidance(template, llm=llm)
    llm.recorder.take()
    llm.steps.take()
    runs = []
    for _ in range(2):
        first_use = sum(llm.first_use)
        forward0 = llm.forward_seconds
        start = time.perf_counter()
        program(**variables)
        seconds = time.perf_counter() - start
        runs.append((seconds, llm.forward_seconds - forward0, llm.recorder.take(),
                     llm.steps.take(), sum(llm.first_use) - first_use))
    out: dict[str, Any] = {}
    for i, (seconds, forward, passes, steps, once) in enumerate(runs, 1):
        n = len(passes)
        outside = seconds - forward
        bound, own = limit(llm, passes), limit(llm, passes, kernels=True)
        out[f"run{i}"] = {
            "seconds": seconds, "limit": bound, "ratio": seconds / bound, "passes": n,
            "limit_kernels": own, "ratio_kernels": seconds / own,
            "first_use": once, "ratio_after_first_use": (seconds - once) / bound,
            "fed": sum(int(p.kwargs["input_ids"].numel()) for p in passes),
            "outside_ms": 1000 * (outside - once) / n,
            **{k.strip("_").removesuffix("_step") + "_ms": 1000 * v / n
               for k, v in steps.items()},
            "rest_ms": 1000 * (outside - once - sum(steps.values())) / n,
        }
    return out


def per_pass(llm: Any, reps: int = 3) -> dict[str, Any]:
    """Median ms between two decoding passes: the engine (its in-place cache and few-row
    products) vs a raw main-thread loop on transformers' `DynamicCache` and torch's products,
    and vs the same loop on the engine's kernels (`InPlaceCache`, few-row products: what is
    left is the engine's own work around the model). The three take turns `reps` times; each
    ratio is the median of the turns' ratios, so a change in the machine's load hits both
    sides of a ratio alike."""
    from transformers import DynamicCache

    import guidance_engine as guidance
    from guidance_engine.llms.few_rows import few_row_products
    from guidance_engine.llms.kv import InPlaceCache

    program = guidance(COUNT, llm=llm)
    program()  # run 1: the prompt is prefilled and cached
    turns: list[tuple[float, float, float]] = []
    for _ in range(reps):
        llm.recorder.take()
        program()
        passes = [p for p in llm.recorder.take() if p.kwargs["input_ids"].shape[-1] == 1]
        engine = statistics.median(b.start - a.start for a, b in itertools.pairwise(passes))
        context = passes[0].cache_len
        llm.recorder.on = False
        dynamic = _raw_loop(llm, DynamicCache(), context, len(passes))
        with few_row_products():
            in_place = _raw_loop(llm, InPlaceCache(), context, len(passes))
        llm.recorder.on = True
        turns.append((engine, dynamic, in_place))
    engine, dynamic, in_place = (statistics.median(t[i] for t in turns) for i in range(3))
    return {"engine_ms": 1000 * engine, "raw_ms": 1000 * dynamic,
            "raw_in_place_ms": 1000 * in_place,
            "ratio": statistics.median(e / d for e, d, _ in turns),
            "ratio_in_place": statistics.median(e / i for e, _, i in turns),
            "passes": len(passes), "context": context}


def _raw_loop(llm: Any, cache: Any, context: int, passes: int) -> float:
    """Median seconds between two greedy one-token passes on `cache` after `context` tokens."""
    import torch

    with torch.inference_mode():
        out = llm.model(input_ids=torch.randint(100, 1000, (1, context)), cache=cache,
                        use_cache=True, logits_to_keep=1)
        stamps = []
        for _ in range(passes + 1):
            stamps.append(time.perf_counter())
            token = out.logits[:, -1].argmax(-1, keepdim=True)
            out = llm.model(input_ids=token, cache=cache, use_cache=True, logits_to_keep=1)
    return statistics.median(b - a for a, b in itertools.pairwise(stamps))


def measure(llm: Any, templates: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {"per_pass": per_pass(llm)}
    for name in templates:
        result[name] = run_template(llm, name)
    return result


# -- driver: one fresh process (or kernel) per caller state ------------------------------------


def worker(args: argparse.Namespace) -> None:
    llm = prepare(args.threads, args.caller, release=not args.no_release)
    print("RESULT " + json.dumps(measure(llm, args.templates)), flush=True)


def in_kernel(args: argparse.Namespace, caller: str) -> dict[str, Any]:
    from jupyter_client.manager import KernelManager

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    manager = KernelManager(kernel_name="python3", transport="ipc")
    manager.start_kernel(env=env, cwd=str(ROOT))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        code = (f"import sys, json; sys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
                "import bench_limit\n"
                f"llm = bench_limit.prepare({args.threads}, {caller!r}, "
                f"release={not args.no_release})\n"
                f"print('RESULT ' + json.dumps(bench_limit.measure(llm, {args.templates!r})))")
        lines: list[str] = []

        def collect(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                lines.extend(msg["content"]["text"].splitlines())
            elif msg["msg_type"] == "error":
                lines.append("ERROR " + "\n".join(msg["content"]["traceback"]))

        client.execute_interactive(code, output_hook=collect, timeout=1200)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return _result(lines)


def in_process(args: argparse.Namespace, caller: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", "--caller", caller,
           "--threads", str(args.threads), "--templates", *args.templates]
    if args.no_release:
        cmd.append("--no-release")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return _result(done.stdout.splitlines() + done.stderr.splitlines()[-20:])


def _result(lines: list[str]) -> dict[str, Any]:
    for line in lines:
        if line.startswith("RESULT "):
            found: dict[str, Any] = json.loads(line[len("RESULT "):])
            return found
    raise SystemExit("no result from the worker:\n" + "\n".join(lines[-40:]))


def _medians(rounds: list[Any]) -> Any:
    """The rounds' results with every number replaced by its median over the rounds."""
    first = rounds[0]
    if isinstance(first, dict):
        return {key: _medians([r[key] for r in rounds]) for key in first}
    if isinstance(first, bool) or not isinstance(first, int | float):
        return first
    value = statistics.median(rounds)
    return type(first)(value) if isinstance(first, int) else value


def report(caller: str, result: dict[str, Any], templates: list[str]) -> None:
    pp = result["per_pass"]
    print(f"\n[{caller}] per pass at context {pp['context']}: engine {pp['engine_ms']:.1f} ms, "
          f"raw main-thread loop (DynamicCache) {pp['raw_ms']:.1f} ms, ratio {pp['ratio']:.3f}; "
          f"raw loop on the engine's kernels (InPlaceCache, few-row products) "
          f"{pp['raw_in_place_ms']:.1f} ms, "
          f"ratio {pp['ratio_in_place']:.3f}")
    print(f"{'template':10s} {'run':4s} {'passes':>6s} {'fed':>5s} {'engine s':>9s} "
          f"{'limit T s':>9s} {'ratio':>6s} {'T_k s':>7s} {'ratio_k':>7s} {'1st use':>7s} "
          f"{'ratio-1st':>9s} {'outside':>8s} "
          f"{'mask':>6s} {'sample':>6s} "
          f"{'commit':>6s} {'rest':>6s}   (ms per pass)")
    for name in templates:
        for run in ("run1", "run2"):
            r = result[name][run]
            print(f"{name:10s} {run[-1]:4s} {r['passes']:6d} {r['fed']:5d} "
                  f"{r['seconds']:9.3f} {r['limit']:9.3f} {r['ratio']:6.3f} "
                  f"{r['limit_kernels']:7.3f} {r['ratio_kernels']:7.3f} {r['first_use']:7.3f} "
                  f"{r['ratio_after_first_use']:9.3f} "
                  f"{r['outside_ms']:8.2f} {r['mask_ms']:6.2f} {r['sample_ms']:6.2f} "
                  f"{r['commit_ms']:6.2f} {r['rest_ms']:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--callers", nargs="+", default=["clean", "used"],
                        choices=["clean", "used"])
    parser.add_argument("--templates", nargs="+", default=list(TEMPLATES), choices=TEMPLATES)
    parser.add_argument("--rounds", type=int, default=1,
                        help="fresh processes per caller state; every figure is their median")
    parser.add_argument("--kernel", action="store_true", help="measure in an IPython kernel")
    parser.add_argument("--no-release", action="store_true",
                        help="keep the caller's OpenMP team (the behaviour before issue 16)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--caller", default="clean", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    where = "IPython kernel" if args.kernel else "script"
    print(f"{where}, {args.threads} torch threads, release={'off' if args.no_release else 'on'}, "
          f"medians of {args.rounds} fresh process(es) per caller state, "
          f"load average {os.getloadavg()}")
    for caller in args.callers:
        rounds = [in_kernel(args, caller) if args.kernel else in_process(args, caller)
                  for _ in range(args.rounds)]
        report(caller, _medians(rounds), args.templates)
    print(f"\nload average {os.getloadavg()}")


if __name__ == "__main__":
    main()
