"""Model store tests: bad model paths, corrupt GGUF files, and the cache's completeness marker.

No weights are loaded here; everything runs against a temporary cache directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from guidance_engine.constraints import TokenIndex
from guidance_engine.errors import ModelLoadError
from guidance_engine.llms import model_store
from guidance_engine.llms.model_store import (
    check_complete,
    check_every_byte,
    resolve_source,
    write_marker,
)
from guidance_engine.llms.transformers import Transformers


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv(model_store.CACHE_ENV, str(cache))
    return cache


def test_cache_root_follows_the_environment(private_cache: Path) -> None:
    assert model_store.cache_root() == private_cache


def test_unknown_model_path() -> None:
    with pytest.raises(ModelLoadError) as err:
        Transformers("/no/such/model")
    assert str(err.value) == (
        "model path '/no/such/model' does not exist; expected a model directory (config.json "
        "and weights), a .gguf file, or model=None for the default model"
    )


def test_directory_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelLoadError) as err:
        Transformers(tmp_path)
    assert str(err.value) == (
        f"directory '{tmp_path}' is not a model: no config.json found (found ['notes.txt']); "
        f"expected a Hugging Face model directory or a .gguf file"
    )


def test_file_that_is_not_gguf(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(ModelLoadError) as err:
        Transformers(path)
    assert str(err.value) == (
        f"model file '{path}' is not a GGUF file: found magic bytes b'PK\\x03\\x04', expected "
        f"b'GGUF' (pass a .gguf file or a model directory)"
    )


def test_truncated_gguf_is_reported_not_cached(tmp_path: Path, private_cache: Path) -> None:
    real = model_store.default_gguf_path()
    path = tmp_path / "truncated.gguf"
    with real.open("rb") as f:
        path.write_bytes(f.read(200_000))
    with pytest.raises(ModelLoadError) as err:
        model_store.load_tokenizer(path)
    assert str(err.value).startswith(f"could not read the tokenizer from GGUF file '{path}': ")
    assert str(err.value).endswith("(the file may be corrupt or truncated)")
    # Nothing that looks complete is left behind.
    assert not list(private_cache.rglob(model_store.MARKER))


def test_marker_detects_partial_and_corrupt_parts(tmp_path: Path) -> None:
    part = tmp_path / "part"
    part.mkdir()
    (part / "weights.bin").write_bytes(bytes(range(256)) * 4096)
    assert check_complete(part) == "no complete.json marker (an interrupted conversion?)"
    write_marker(part, Path("source.gguf"))
    assert check_complete(part) is None
    data = bytearray((part / "weights.bin").read_bytes())
    data[0] ^= 0xFF
    (part / "weights.bin").write_bytes(bytes(data))
    assert check_complete(part) == "weights.bin does not match its checksum"
    (part / "weights.bin").write_bytes(bytes(data[:1000]))
    assert check_complete(part) == "weights.bin has 1000 bytes, marker says 1048576"


def test_a_corrupt_cache_part_is_rebuilt(tmp_path: Path) -> None:
    builds: list[Path] = []

    def build(directory: Path) -> None:
        builds.append(directory)
        (directory / "data.bin").write_bytes(b"x" * 5000)

    final = tmp_path / "cache" / "key" / "part"
    model_store._ensure_part(final, Path("src.gguf"), build, "quick")
    model_store._ensure_part(final, Path("src.gguf"), build, "quick")
    assert len(builds) == 1  # the second call used the verified cache
    (final / "data.bin").write_bytes(b"x" * 10)  # a partial write
    model_store._ensure_part(final, Path("src.gguf"), build, "quick")
    assert len(builds) == 2
    assert check_complete(final, full=True) is None


def test_resolve_source_kinds(tmp_path: Path) -> None:
    assert resolve_source(None).kind == "gguf"
    (tmp_path / "config.json").write_text("{}")
    assert resolve_source(tmp_path).kind == "dir"


def test_a_damaged_tokenizer_cache_is_rebuilt_not_used(private_cache: Path) -> None:
    first = model_store.load_tokenizer()  # converts the default GGUF's tokenizer (a few s)
    tokenizer_json = next(private_cache.rglob("tokenizer.json"))
    tokenizer_json.write_text(tokenizer_json.read_text()[:1000])  # a partial write
    assert check_complete(tokenizer_json.parent) is not None
    again = model_store.load_tokenizer()
    assert check_complete(tokenizer_json.parent) is None
    assert again.encode("Hello world") == first.encode("Hello world")


def test_damage_between_sampled_blocks_is_caught_by_the_every_byte_check(
    tmp_path: Path,
) -> None:
    part = tmp_path / "part"
    part.mkdir()
    (part / "weights.bin").write_bytes(bytes(range(256)) * (80 * 1024))  # 20 MiB
    write_marker(part, Path("source.gguf"))
    data = bytearray((part / "weights.bin").read_bytes())
    data[len(data) // 2 + 12345] ^= 0x01  # inside no sampled block of the quick check
    (part / "weights.bin").write_bytes(bytes(data))
    assert check_complete(part) is None  # the quick check cannot see it ...
    assert check_every_byte(part) == "weights.bin does not match its CRC-32"  # ... this does


def tiny_tied_llama() -> object:
    """A randomly initialised 2-layer Llama with tied embeddings (no download, ~1 MB)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         tie_word_embeddings=True)
    return LlamaForCausalLM(config).eval()


def test_a_converted_model_is_a_standard_checkpoint_with_tied_embeddings(tmp_path: Path) -> None:
    """Tied weights are saved as `model.embed_tokens.weight` (what save_pretrained writes and
    other engines such as vLLM read), and the directory loads back to the same logits."""
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    model = tiny_tied_llama()
    model_store._save_dequantized(model, tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        names = set(f.keys())
    assert "model.embed_tokens.weight" in names and "lm_head.weight" not in names
    reference = tmp_path / "reference"
    model.save_pretrained(str(reference))
    with safe_open(str(reference / "model.safetensors"), "pt") as f:
        assert set(f.keys()) == names
    loaded = AutoModelForCausalLM.from_pretrained(str(tmp_path)).eval()
    ids = torch.tensor([[1, 5, 9, 2]])
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, model(ids).logits)


def test_entries_of_an_older_cache_format_are_not_read(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"x" * 100)
    old_key = model_store.source_key(gguf)
    part = model_store.cache_root() / old_key / "model"
    part.mkdir(parents=True)
    (part / "model.safetensors").write_bytes(b"w" * 10)
    write_marker(part, gguf)
    marker = (part / "complete.json").read_text().replace('"format": 2', '"format": 1')
    (part / "complete.json").write_text(marker)
    assert check_complete(part) == "cache format 1 (expected 2)"


@pytest.mark.model
def test_the_engine_tokenizer_builds_while_the_weights_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Transformers() hands the tokenizer to the constraint index before loading the weights,
    so the engine's tokenizer is ready (or building) when the first constraint needs it."""
    import torch

    order: list[str] = []
    real_load_weights = model_store._load_weights

    def load_weights(directory: Path, dtype: object) -> object:
        order.append("weights")
        return real_load_weights(directory, dtype)

    monkeypatch.setattr(model_store, "_load_weights", load_weights)
    prepare = TokenIndex.prepare
    monkeypatch.setattr(TokenIndex, "prepare", lambda self: (order.append("prepare"),
                                                             prepare(self))[1])
    llm = Transformers()
    assert order == ["prepare", "weights"]
    assert llm.index.ll is llm.index.ll  # built once, in the background or on demand
    assert isinstance(llm.model.lm_head.weight, torch.Tensor)
