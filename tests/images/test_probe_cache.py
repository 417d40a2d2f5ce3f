"""The on-disk memory of probe_python's answers (no engine needed)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from cogkit.images import probe_cache

LAYER_A, LAYER_B = "sha256:" + "a" * 64, "sha256:" + "b" * 64
CONFIG = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [LAYER_A]}}


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COGKIT_CACHE_DIR", str(tmp_path / "cache"))


def test_an_answer_is_remembered_per_image_and_python_version() -> None:
    key = probe_cache.image_key(CONFIG)
    assert probe_cache.lookup(key, "3.11") is None
    probe_cache.remember(key, "3.11", True)
    probe_cache.remember(key, "3.12", False)
    assert probe_cache.lookup(key, "3.11") is True
    assert probe_cache.lookup(key, "3.12") is False
    other = probe_cache.image_key({**CONFIG, "rootfs": {"type": "layers", "diff_ids": [LAYER_B]}})
    assert other != key and probe_cache.lookup(other, "3.11") is None
    # the key is the config's content, not its spelling
    assert probe_cache.image_key(dict(reversed(list(CONFIG.items())))) == key


def test_default_location_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("COGKIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert probe_cache.cache_dir() == tmp_path / "xdg" / "cogkit" / "base-python"


def test_a_damaged_file_is_absent_and_an_unwritable_dir_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = probe_cache.image_key(CONFIG)
    probe_cache.remember(key, "3.11", True)
    (path,) = probe_cache.cache_dir().iterdir()
    path.write_text('{"has_python": tru')
    assert probe_cache.lookup(key, "3.11") is None
    path.write_text('{"has_python": "yes"}')
    assert probe_cache.lookup(key, "3.11") is None
    monkeypatch.setenv("COGKIT_CACHE_DIR", str(tmp_path / "file"))
    (tmp_path / "file").write_text("not a directory")
    probe_cache.remember(key, "3.11", True)  # no exception: the next build probes again
    assert probe_cache.lookup(key, "3.11") is None


def test_concurrent_writers_never_leave_half_a_file() -> None:
    key = probe_cache.image_key(CONFIG)
    seen: list[bool | None] = []
    stop = threading.Event()

    def write(answer: bool) -> None:
        for _ in range(200):
            probe_cache.remember(key, "3.11", answer)

    def read() -> None:
        while not stop.is_set():
            seen.append(probe_cache.lookup(key, "3.11"))

    probe_cache.remember(key, "3.11", True)
    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(n % 2 == 0,)) for n in range(4)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    reader.join()
    assert seen and all(answer in (True, False) for answer in seen)
    assert [p.name for p in probe_cache.cache_dir().iterdir()] == [f"{key}-py3.11.json"]  # no temp files left
