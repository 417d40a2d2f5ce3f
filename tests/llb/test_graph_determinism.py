"""The same graph marshals to the same bytes in separate processes with different hash seeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = r"""
import hashlib, json
from cogkit import llb

base = llb.image("python:3.11-slim").with_env("Z", "1").with_env("A", "2").with_cwd("/src")
ctx = llb.local("context", include=["b/**", "a/**", "c"], exclude=["x", "y"], shared_key_hint="k", unique="u")
deps = base.run(
    "pip install -r requirements.txt",
    mounts=[
        llb.cache("/root/.cache/pip", id="pip", sharing="locked"),
        llb.secret("/run/secrets/hf", id="hf"),
        llb.bind(ctx, "/ctx", readonly=True, selector="/reqs"),
        llb.tmpfs("/tmp"),
        llb.bind(llb.scratch(), "/out"),
    ],
    network="host",
    name="deps",
)
files = deps.file(llb.mkdir("/a", 0o755).mkfile("/a/b", 0o600, b"x").copy(ctx, "*.py", "/src/").rm("/tmp/x"))
layers = [files, deps.get_mount("/out"), llb.scratch().file(llb.copy(ctx, "weights", "/weights"))]
out = {}
ENGINE_CAPS = {
    "mergeop", "source.image", "source.local", "source.local.includepatterns", "source.local.excludepatterns",
    "source.local.sharedkeyhint", "source.local.unique", "exec.meta.base", "exec.meta.network",
    "exec.mount.bind", "exec.mount.selector", "exec.mount.cache", "exec.mount.cache.sharing",
    "exec.mount.secret", "exec.mount.tmpfs", "file.base",
}
for label, caps in (("fallback", None), ("mergeop", ENGINE_CAPS)):
    d = llb.merge(layers, name="image").marshal(caps=caps, platform="linux/amd64")
    out[label] = {"digests": list(d.digests), "bytes": hashlib.sha256(d.to_bytes()).hexdigest()}
print(json.dumps(out))
"""


def _run(seed: str) -> dict[str, dict[str, object]]:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_two_processes_give_identical_digests_and_bytes() -> None:
    first, second = _run("1"), _run("4242")
    assert first == second
    assert first["fallback"]["digests"] != first["mergeop"]["digests"]
    assert len(first["mergeop"]["digests"]) == len(set(first["mergeop"]["digests"]))
