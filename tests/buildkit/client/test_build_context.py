"""A real local context through the session's FileSync, checked file by file inside the image."""

from __future__ import annotations

import hashlib
import os
import random
import uuid
from pathlib import Path

from buildkit_client_helpers import docker, on_base

from cogkit import llb
from cogkit.buildkit.client import Client
from cogkit.buildkit.exporters import MobyExporter
from cogkit.context.ignore import read_dockerignore

DOCKERIGNORE = """# build outputs and scratch files
build
!build/keep.txt
**/*.tmp
/secret.env
"""


def make_context(root: Path) -> dict[str, tuple[str, str]]:
    """~1,000 files in nested dirs plus a symlink, empty dirs and ignored files.

    Returns what must arrive: path -> (type, detail), built by construction, not by a matcher.
    """
    rng = random.Random(7)
    expected: dict[str, tuple[str, str]] = {}

    def add_file(rel: str, data: bytes, mode: int = 0o644, sent: bool = True) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, mode)
        if sent:
            expected[rel] = ("f", f"{mode:o} {hashlib.sha256(data).hexdigest()}")

    for i in range(10):
        for j in range(5):
            for k in range(20):
                rel = f"pkg{i}/mod{j}/file{k:02d}.py"
                add_file(rel, rng.randbytes(rng.randrange(0, 5000)), 0o755 if k == 0 else 0o644)
    add_file("pkg0/mod0/deep/er/still/here.txt", b"deep\n", 0o600)
    add_file("README.md", b"# context\n")
    add_file(".dockerignore", DOCKERIGNORE.encode())
    add_file("build/out.bin", b"x" * 1000, sent=False)
    add_file("build/sub/more.bin", b"y", sent=False)
    add_file("build/keep.txt", b"kept by an exception\n")
    add_file("pkg3/scratch.tmp", b"tmp", sent=False)
    add_file("scratch.tmp", b"tmp", sent=False)
    add_file("secret.env", b"TOKEN=1", sent=False)
    add_file("pkg1/secret.env", b"not at the root, so kept\n")
    os.symlink("README.md", root / "link-to-readme")
    expected["link-to-readme"] = ("l", "README.md")
    (root / "empty" / "nested-empty").mkdir(parents=True)
    for rel in sorted({str(Path(p).parent) for p in expected} | {"empty", "empty/nested-empty"}):
        parts = Path(rel).parts
        for n in range(1, len(parts) + 1):
            expected.setdefault("/".join(parts[:n]), ("d", ""))
    expected.pop(".", None)
    return expected


def listing_in_image(tag: str) -> dict[str, tuple[str, str]]:
    script = (
        "cd /ctx && find . -mindepth 1 -printf '%y %P %m %l\\n' && echo ---- && "
        "find . -type f -print0 | xargs -0 sha256sum"
    )
    out = docker("run", "--rm", "--entrypoint", "sh", tag, "-c", script).stdout.decode()
    entries, hashes = out.split("----\n")
    digests = {line.split("  ", 1)[1].removeprefix("./"): line.split()[0] for line in hashes.splitlines()}
    found: dict[str, tuple[str, str]] = {}
    for line in entries.splitlines():
        kind, path, mode, *link = line.split(" ")
        if kind == "f":
            found[path] = ("f", f"{mode} {digests[path]}")
        elif kind == "l":
            found[path] = ("l", link[0])
        else:
            found[path] = (kind, "")
    return found


def _copy_context(base_image: str, root: Path):  # noqa: ANN202 - build function
    ctx = llb.local("context", exclude=read_dockerignore(root), shared_key_hint="context")
    return on_base(
        base_image, lambda base: (base.file(llb.copy(ctx, "/", "/ctx/"), name="copy context"), None)
    )


def test_context_of_a_thousand_files_arrives_exactly(
    dockerd: Client, base_image: str, image_tag: str, tmp_path: Path
) -> None:
    expected = make_context(tmp_path)
    assert sum(1 for kind, _ in expected.values() if kind == "f") > 1000
    report = dockerd.build(
        _copy_context(base_image, tmp_path),
        exporter=MobyExporter([image_tag]),
        local_dirs={"context": tmp_path},
        progress="quiet",
    )
    assert report.image_id
    assert listing_in_image(image_tag) == expected


def test_rebuild_sends_only_the_edited_file(
    dockerd: Client, base_image: str, image_tag: str, tmp_path: Path
) -> None:
    expected = make_context(tmp_path)
    build = _copy_context(base_image, tmp_path)

    def run():  # noqa: ANN202
        return dockerd.build(
            build, exporter=MobyExporter([image_tag]), local_dirs={"context": tmp_path}, progress="quiet"
        )

    first = run()
    sent_files = {p for p, (kind, _) in expected.items() if kind == "f"}
    assert set(first.sync["context"].files_sent) == sent_files

    second = run()
    assert second.sync["context"].files_sent == []
    assert second.fully_cached and second.image_id == first.image_id

    # Unique per run, so an earlier run's build cache cannot already hold the edited context.
    edited = f"print('edited {uuid.uuid4().hex}')\n".encode()
    (tmp_path / "pkg4" / "mod2" / "file07.py").write_bytes(edited)
    third = run()
    assert third.sync["context"].files_sent == ["pkg4/mod2/file07.py"]
    assert third.sync["context"].bytes_sent == len(edited)
    assert not third.fully_cached and third.image_id != first.image_id
    listing = listing_in_image(image_tag)
    assert listing["pkg4/mod2/file07.py"][1].endswith(hashlib.sha256(edited).hexdigest())


def test_large_file_arrives_intact_in_many_chunks(
    dockerd: Client, base_image: str, image_tag: str, tmp_path: Path
) -> None:
    blob = tmp_path / "weights.bin"
    digest = hashlib.sha256()
    with open(blob, "wb") as fh:
        for i in range(200):  # 200 MiB: ~200 DATA packets while the daemon health-checks the session
            block = (i.to_bytes(4, "big") + os.urandom(60)) * (1 << 14)
            digest.update(block)
            fh.write(block)

    def make(base: llb.State) -> tuple[llb.State, None]:
        ctx = llb.local("weights")
        step = base.run(
            ["sh", "-c", "sha256sum /w/weights.bin | cut -c1-64 > /weights.sha"],
            mounts=[llb.bind(ctx, "/w", readonly=True)],
            name="hash weights",
        )
        return step.root(), None

    report = dockerd.build(
        on_base(base_image, make), exporter=MobyExporter([image_tag]), local_dirs={"weights": tmp_path}
    )
    assert report.sync["weights"].bytes_sent == 200 << 20
    # A missed health check would have killed the session (and failed the build) mid-transfer.
    seen = docker("run", "--rm", "--entrypoint", "cat", image_tag, "/weights.sha").stdout.decode().strip()
    assert seen == digest.hexdigest()
