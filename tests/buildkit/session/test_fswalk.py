"""The walk order and stat encoding that fsutil's receiver validates (pure, on a temp dir)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cogkit.buildkit.session.fswalk import MODE_DIR, MODE_SYMLINK, go_file_mode, walk
from cogkit.errors import CogkitError


def _tree(root: Path) -> None:
    for rel in ["a/b", "a.txt", "a-b", "B", "z/y/x.txt", "ä.txt", "a/c.txt", "keep/in.txt", "drop/x.pyc"]:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(rel)
    (root / "empty").mkdir()
    os.symlink("a.txt", root / "link")


def test_pre_order_byte_sorted_parents_first(tmp_path: Path) -> None:
    _tree(tmp_path)
    paths = [e.path for e in walk(tmp_path)]
    assert paths == [
        "B", "a", "a/b", "a/c.txt", "a-b", "a.txt", "drop", "drop/x.pyc", "empty",
        "keep", "keep/in.txt", "link", "z", "z/y", "z/y/x.txt", "ä.txt",
    ]  # fmt: skip


def test_go_file_mode_bits(tmp_path: Path) -> None:
    _tree(tmp_path)
    os.chmod(tmp_path / "a.txt", 0o4755)
    entries = {e.path: e for e in walk(tmp_path)}
    assert entries["a"].mode == MODE_DIR | 0o755 & ~_umask_bits()
    assert entries["link"].mode & MODE_SYMLINK and entries["link"].linkname == "a.txt"
    assert entries["a.txt"].mode == (1 << 23) | 0o755
    assert entries["a.txt"].is_regular and not entries["link"].is_regular
    assert entries["a"].size == 0 and entries["a.txt"].size == len("a.txt")
    assert entries["a.txt"].mtime_ns == os.lstat(tmp_path / "a.txt").st_mtime_ns
    assert go_file_mode(stat.S_IFIFO | 0o600) == (1 << 25) | 0o600
    assert go_file_mode(stat.S_IFCHR | 0o600) == (1 << 26) | (1 << 21) | 0o600


def _umask_bits() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_excludes_with_exception_emit_parent_once(tmp_path: Path) -> None:
    _tree(tmp_path)
    paths = [e.path for e in walk(tmp_path, exclude=["a", "drop", "z", "**/*.txt", "!z/y/x.txt"])]
    assert "a" not in paths and "drop" not in paths and "a.txt" not in paths
    assert paths[paths.index("z") : paths.index("z") + 3] == ["z", "z/y", "z/y/x.txt"]


def test_includes_walk_into_dirs_and_emit_only_needed_parents(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert [e.path for e in walk(tmp_path, include=["z/y/*.txt", "keep"])] == [
        "keep", "keep/in.txt", "z", "z/y", "z/y/x.txt",
    ]  # fmt: skip


def test_missing_context_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CogkitError, match="does not exist"):
        list(walk(tmp_path / "nope"))


def test_sockets_are_skipped(tmp_path: Path) -> None:
    import socket

    (tmp_path / "a.txt").write_text("a")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(tmp_path / "daemon.sock"))
        assert [e.path for e in walk(tmp_path)] == ["a.txt"]
