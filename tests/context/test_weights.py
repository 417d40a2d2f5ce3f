"""Weight detection follows Cog's rule: >= 10 MiB, not code or media, not ignored."""

from __future__ import annotations

from pathlib import Path

from cogkit.context.weights import SIZE_THRESHOLD, find_weights


def sparse(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.truncate(size)


def test_finds_big_non_code_files(tmp_path: Path) -> None:
    sparse(tmp_path / "model.safetensors", SIZE_THRESHOLD)
    sparse(tmp_path / "ckpt" / "part-1.bin", SIZE_THRESHOLD + 1)
    sparse(tmp_path / "small.bin", SIZE_THRESHOLD - 1)
    sparse(tmp_path / "huge_generated.py", SIZE_THRESHOLD * 2)
    sparse(tmp_path / "demo.mp4", SIZE_THRESHOLD * 2)
    sparse(tmp_path / ".git" / "objects" / "pack.pack", SIZE_THRESHOLD * 2)
    sparse(tmp_path / "__pycache__" / "x.bin", SIZE_THRESHOLD * 2)
    found = find_weights(tmp_path, [])
    assert [w.path for w in found] == ["ckpt/part-1.bin", "model.safetensors"]
    assert found[0].size == SIZE_THRESHOLD + 1


def test_dockerignored_files_are_not_weights(tmp_path: Path) -> None:
    sparse(tmp_path / "cache" / "big.bin", SIZE_THRESHOLD)
    sparse(tmp_path / "keep.bin", SIZE_THRESHOLD)
    sparse(tmp_path / "drop.bin", SIZE_THRESHOLD)
    assert [w.path for w in find_weights(tmp_path, ["cache", "drop.bin"])] == ["keep.bin"]
