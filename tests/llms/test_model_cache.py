"""Model cache hygiene: content-based keys shared by copies of one GGUF, migration of entries
made under the old path-and-mtime key, cleanup of conversions killed midway, files where
directories should be, damaged markers, and the `guidance-engine cache` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from guidance_engine.errors import ModelLoadError
from guidance_engine.llms import model_store
from guidance_engine.llms.model_store import check_complete, entry_dir, source_key

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv(model_store.CACHE_ENV, str(cache))
    return cache


def fake_gguf(path: Path, body: bytes = b"weights" * 1000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + body)
    return path


def build_into(calls: list[Path]) -> object:
    def build(directory: Path) -> None:
        calls.append(directory)
        (directory / "data.bin").write_bytes(b"x" * 5000)

    return build


def test_copies_of_one_gguf_share_a_key_and_other_content_does_not(tmp_path: Path) -> None:
    a = fake_gguf(tmp_path / "venv1" / "m.gguf")
    b = fake_gguf(tmp_path / "venv2" / "m.gguf")
    os.utime(b, (1, 1))  # another install time
    assert source_key(a) == source_key(b)
    assert model_store.legacy_source_key(a) != model_store.legacy_source_key(b)
    c = fake_gguf(tmp_path / "venv3" / "m.gguf", b"other" * 1000)
    assert source_key(c) != source_key(a)


def test_an_entry_under_the_old_key_is_moved_not_converted_again(
    tmp_path: Path, private_cache: Path
) -> None:
    gguf = fake_gguf(tmp_path / "m.gguf")
    legacy = private_cache / model_store.legacy_source_key(gguf) / "model"
    calls: list[Path] = []
    model_store._ensure_part(legacy, gguf, build_into(calls), "quick")
    entry = entry_dir(gguf)
    assert entry.name == source_key(gguf) and (entry / "model" / "data.bin").is_file()
    assert not legacy.parent.exists()
    model_store._ensure_part(entry / "model", gguf, build_into(calls), "quick")
    assert len(calls) == 1


def test_a_conversion_killed_midway_is_cleaned_up_on_the_next_load(
    tmp_path: Path, private_cache: Path
) -> None:
    gguf = fake_gguf(tmp_path / "m.gguf")
    final = entry_dir(gguf) / "model"
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom guidance_engine.llms import model_store\n"
        "def build(d):\n    (d / 'half.bin').write_bytes(b'x' * 100000)\n"
        "    print('writing', flush=True)\n    time.sleep(60)\n"
        f"model_store._ensure_part(Path({str(final)!r}), Path({str(gguf)!r}), build, 'quick')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None and child.stdout.readline() == "writing\n"
    left = list(final.parent.glob("model.tmp-*"))
    assert len(left) == 1  # the converter is writing here
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    calls: list[Path] = []
    model_store._ensure_part(final, gguf, build_into(calls), "quick")
    assert not left[0].exists()  # the dead conversion's directory is gone
    assert len(calls) == 1 and check_complete(final) is None


def test_only_abandoned_temporaries_are_removed(tmp_path: Path) -> None:
    entry = tmp_path / "entry"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        dirs = {}
        for name, owner, age in [("live", sleeper.pid, 0), ("dead", dead.pid, 0),
                                 ("old", None, 7200), ("fresh", None, 0)]:
            path = entry / f"model.tmp-{name}"
            path.mkdir(parents=True)
            if owner is not None:
                (path / "owner.pid").write_text(str(owner))
            os.utime(path, (time.time() - age, time.time() - age))
            dirs[name] = path
        removed = model_store.clean_stale_temporaries(entry)
        assert sorted(p.name for p in removed) == ["model.tmp-dead", "model.tmp-old"]
        assert dirs["live"].exists() and dirs["fresh"].exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_file_as_the_cache_root_is_a_model_load_error(private_cache: Path) -> None:
    private_cache.parent.mkdir(parents=True, exist_ok=True)
    private_cache.write_text("not a directory")
    with pytest.raises(ModelLoadError) as info:
        model_store.load_tokenizer()
    assert str(info.value) == (
        f"the model cache '{private_cache}' is a file; expected a directory (remove it, or set "
        f"$GUIDANCE_ENGINE_CACHE to another directory)")


def test_a_file_where_a_part_should_be_is_replaced(tmp_path: Path) -> None:
    final = tmp_path / "cache" / "key" / "model"
    final.parent.mkdir(parents=True)
    final.write_text("stray")
    calls: list[Path] = []
    model_store._ensure_part(final, Path("src.gguf"), build_into(calls), "quick")
    assert final.is_dir() and check_complete(final) is None and len(calls) == 1


def test_a_marker_entry_missing_keys_means_rebuild(tmp_path: Path) -> None:
    final = tmp_path / "cache" / "key" / "model"
    calls: list[Path] = []
    model_store._ensure_part(final, Path("src.gguf"), build_into(calls), "quick")
    marker = json.loads((final / "complete.json").read_text())
    del marker["files"]["data.bin"]["size"]
    (final / "complete.json").write_text(json.dumps(marker))
    assert check_complete(final) == "complete.json entry 'data.bin' has no valid 'size'"
    assert model_store.check_every_byte(final) == check_complete(final)
    model_store._ensure_part(final, Path("src.gguf"), build_into(calls), "quick")
    assert len(calls) == 2 and check_complete(final) is None


def cli(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), model_store.CACHE_ENV: str(cache)}
    return subprocess.run([sys.executable, "-m", "guidance_engine.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_cache_list_and_clear_from_the_command_line(tmp_path: Path, private_cache: Path) -> None:
    gguf = fake_gguf(tmp_path / "m.gguf")
    for part in ("tokenizer", "model"):
        model_store._ensure_part(entry_dir(gguf) / part, gguf, build_into([]), "quick")
    (private_cache / "token-index").mkdir()
    (private_cache / "token-index" / "v.bin").write_bytes(b"y" * 2**20)
    key = source_key(gguf)
    listed = cli("cache", "list", cache=private_cache)
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert lines[0] == f"cache: {private_cache}"
    assert lines[1].split()[:3] == [key, "0.0", "MB"]
    assert lines[1].endswith(f"complete (from {gguf})")
    assert lines[2].split() == ["token-index", "1.0", "MB", "other"]
    missing = cli("cache", "clear", key[:-1], cache=private_cache)
    assert missing.returncode == 1
    assert missing.stderr == (
        f"guidance-engine: no cache entry {key[:-1]!r}; did you mean {key!r}?\n")
    cleared = cli("cache", "clear", key, cache=private_cache)
    assert cleared.returncode == 0 and not (private_cache / key).exists()
    assert cleared.stdout.startswith(f"removed {key} (0.0 MB)\n")
    everything = cli("cache", "clear", "--all", cache=private_cache)
    assert everything.stdout.splitlines() == ["removed token-index (1.0 MB)", "freed 1.0 MB"]
    assert list(private_cache.iterdir()) == []
    assert cli("cache", "list", cache=private_cache).stdout.splitlines()[1] == "(empty)"
