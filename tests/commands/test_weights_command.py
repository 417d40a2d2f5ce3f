"""`cogkit weights import|pull|status` against the real registry on 127.0.0.1:5000 (Cog's format)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from cogkit.model.weights import ARTIFACT_TYPE, LAYER_TAR, LAYER_TAR_GZIP, MANIFEST_TYPE, set_digest


def _project(tmp_path: Path, registry: str) -> tuple[Path, str]:
    project = tmp_path / "weighted"
    (project / "weights" / "sub").mkdir(parents=True)
    (project / "weights" / "config.json").write_text('{"layers": 2}')
    (project / "weights" / "sub" / "tokenizer.txt").write_text("a b c\n")
    (project / "weights" / "big.bin").write_bytes(os.urandom(1024) * (65 * 1024))  # 65 MiB: its own layer
    (project / "weights" / "skip.log").write_text("not a weight")
    model = f"{registry}/cogkit-test/weights-{uuid.uuid4().hex[:8]}"
    (project / "cog.yaml").write_text(
        'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n'
        f"model: {model}\n"
        "weights:\n"
        "  - name: base-model\n"
        "    target: /src/weights\n"
        "    source:\n"
        "      uri: ./weights\n"
        '      exclude: ["*.log"]\n'
    )
    return project, model


def _manifest(model: str, reference: str) -> dict:
    host, _, name = model.partition("/")
    request = urllib.request.Request(
        f"http://{host}/v2/{name}/manifests/{reference}", headers={"Accept": MANIFEST_TYPE}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_import_pull_status_round_trip(tmp_path: Path, registry: str, cli) -> None:
    project, model = _project(tmp_path, registry)
    cache = tmp_path / "cache"
    env = {"COG_CACHE_DIR": str(cache)}
    dry = cli("weights", "import", "--dry-run", cwd=project, env=env)
    assert dry.returncode == 0, dry.stderr
    assert "+ base-model  ./weights → /src/weights" in dry.stderr.splitlines()
    assert not (project / "weights.lock").exists()
    pending = cli("weights", "status", cwd=project, env=env)
    assert pending.returncode == 1 and pending.stdout == "base-model  pending  /src/weights\n"

    imported = cli("weights", "import", cwd=project, env=env)
    assert imported.returncode == 0, imported.stderr
    assert f"Imported 1 weight artifact(s) to {model}" in imported.stderr
    lock = json.loads((project / "weights.lock").read_text())
    assert lock["version"] == 1
    (entry,) = lock["weights"]
    assert [f["path"] for f in entry["files"]] == ["big.bin", "config.json", "sub/tokenizer.txt"]
    # the set digest is `sha256sum | sort | sha256sum` over the files, independent of packing
    lines = sorted(
        f"{hashlib.sha256((project / 'weights' / p).read_bytes()).hexdigest()}  {p}"
        for p in ("big.bin", "config.json", "sub/tokenizer.txt")
    )
    assert entry["setDigest"] == "sha256:" + hashlib.sha256(("\n".join(lines) + "\n").encode()).hexdigest()
    # the artifact in the registry: Cog's media types and annotations, the 65 MiB file alone in a plain tar
    tag = f"cog-weight.base-model.{entry['setDigest'].partition(':')[2][:12]}"
    manifest = _manifest(model, tag)
    assert manifest["artifactType"] == ARTIFACT_TYPE
    assert manifest["annotations"]["run.cog.weight.set-digest"] == entry["setDigest"]
    assert manifest["annotations"]["run.cog.weight.target"] == "/src/weights"
    assert sorted(layer["mediaType"] for layer in manifest["layers"]) == [LAYER_TAR, LAYER_TAR_GZIP]
    assert _manifest(model, entry["digest"])["config"] == manifest["config"]

    ready = cli("weights", "status", "--json", cwd=project, env=env)
    assert ready.returncode == 0, ready.stderr
    assert json.loads(ready.stdout)["weights"][0]["status"] == "ready"
    again = cli("weights", "import", cwd=project, env=env)
    assert "  status: unchanged" in again.stderr.splitlines()

    # an empty store is refilled from the registry, every file verified against the lockfile
    fresh = {"COG_CACHE_DIR": str(tmp_path / "fresh-cache")}
    pulled = cli("weights", "pull", cwd=project, env=fresh)
    assert pulled.returncode == 0, pulled.stderr
    assert "Pulling base-model... done" in pulled.stderr
    for f in entry["files"]:
        stored = tmp_path / "fresh-cache" / "weights" / "files" / "sha256" / f["digest"].partition(":")[2]
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == f["digest"].partition(":")[2]
    cached = cli("weights", "pull", cwd=project, env=fresh)
    assert cached.stderr.splitlines()[-1] == "All 1 weight(s) already cached."

    # an edited file makes the weight stale until it is imported again
    (project / "weights" / "config.json").write_text('{"layers": 3}')
    stale = cli("weights", "status", cwd=project, env=env)
    assert stale.returncode == 1 and stale.stdout == "base-model  stale  /src/weights\n"


def test_weights_config_errors(tmp_path: Path, cli) -> None:
    project = tmp_path / "bad"
    project.mkdir()
    (project / "w").mkdir()
    (project / "w" / "x.bin").write_text("x")
    base = 'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n'
    cases = {
        "weights:\n  - name: a\n    target: /w\n    source: ./w\n":
            "error: invalid model: weights require 'model'",
        "model: 127.0.0.1:5000/a/b:tag\nweights:\n  - name: a\n    target: /w\n    source: ./w\n":
            'error: invalid model "127.0.0.1:5000/a/b:tag": must be a bare repository',
        "model: 127.0.0.1:5000/a/b\nweights:\n  - name: Bad\n    target: /w\n    source: ./w\n":
            'error: weights[0]: invalid name "Bad"',
        "model: 127.0.0.1:5000/a/b\nweights:\n  - name: a\n    target: w\n    source: ./w\n":
            "error: weights[0]: target must be an absolute path",
        "model: 127.0.0.1:5000/a/b\nweights:\n  - {name: a, target: /w, source: ./w}\n"
        "  - {name: b, target: /w/x, source: ./w}\n":
            'error: target overlaps with "/w"; weight targets must be disjoint',
        "model: 127.0.0.1:5000/a/b\nweights:\n  - name: a\n    target: /w\n    source: hf://org\n":
            'error: invalid hf:// repo "org": expected org/repo',
    }  # fmt: skip
    for extra, expected in cases.items():
        (project / "cog.yaml").write_text(base + extra)
        result = cli("weights", "import", cwd=project)
        assert result.returncode == 1, extra
        assert expected in result.stderr, (extra, result.stderr)
        assert "Traceback" not in result.stderr


def test_set_digest_matches_sha256sum_listing() -> None:
    from cogkit.model.weights import WeightFile

    files = [WeightFile("b", 1, "sha256:" + "b" * 64), WeightFile("a", 1, "sha256:" + "a" * 64)]
    listing = f"{'a' * 64}  a\n{'b' * 64}  b\n"
    assert set_digest(files) == "sha256:" + hashlib.sha256(listing.encode()).hexdigest()


MOUNTED_PREDICT = """import os

from cog import BasePredictor


class Predictor(BasePredictor):
    def predict(self, name: str) -> str:
        try:
            open("/weights/base/written", "w").write("x")
            writable = "writable"
        except OSError:
            writable = "read-only"
        with open(os.path.join("/weights/base", name)) as f:
            return f.read().strip() + " " + writable
"""


def test_runs_mount_imported_weights_read_only_and_gate_on_drift(
    tmp_path: Path, registry: str, cli, build_env, docker_engine
) -> None:
    from cli_helpers import DOCKER, test_image_name

    project = tmp_path / "mounted"
    (project / "files").mkdir(parents=True)
    (project / "files" / "config.json").write_text("from-the-store")
    (project / "predict.py").write_text(MOUNTED_PREDICT)
    model = f"{registry}/cogkit-test/mounted-{uuid.uuid4().hex[:8]}"
    yaml = (
        'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n'
        f"model: {model}\nweights:\n  - name: base\n    target: /weights/base\n    source: ./files\n"
    )
    (project / "cog.yaml").write_text(yaml)
    env = {**build_env, "COG_CACHE_DIR": str(tmp_path / "cache")}
    tag = test_image_name("mounted")
    try:
        not_yet = cli("run", "-i", "name=config.json", cwd=project, env=env)
        assert not_yet.returncode == 1
        assert not_yet.stderr.startswith(
            'error: weights.lock is out of sync with cog.yaml: "base": not imported yet'
        )
        assert cli("weights", "import", cwd=project, env=env).returncode == 0
        # the image is named after model: (Cog: -t > image > model > dir); a -t keeps test images apart
        assert cli("build", "-t", tag, cwd=project, env=env).returncode == 0
        ran = cli("run", "-i", "name=config.json", cwd=project, env=env)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout == "from-the-store read-only\n"
        assert not list((project / ".cog" / "mounts").iterdir()), "the mount directory is removed afterwards"
        # an empty store: pull first
        empty = {**env, "COG_CACHE_DIR": str(tmp_path / "empty")}
        missing = cli("run", "-i", "name=config.json", cwd=project, env=empty)
        assert missing.returncode == 1
        assert 'error: weight "base" is not fully cached locally (missing config.json)' in missing.stderr
        # a changed target is drift
        (project / "cog.yaml").write_text(yaml.replace("/weights/base", "/weights/other"))
        drift = cli("run", "-i", "name=config.json", cwd=project, env=env)
        assert drift.returncode == 1
        assert 'weights.lock is out of sync with cog.yaml: "base": config changed (target)' in drift.stderr
    finally:
        subprocess.run([DOCKER, "rmi", "-f", tag, model], capture_output=True)


def test_push_with_weights_is_cogs_bundle(
    tmp_path: Path, registry: str, cli, build_env, docker_engine
) -> None:
    """`cogkit push` with managed weights: the image at cog-image.<tag>, then an OCI index at <tag>."""
    from cogkit.model.weights import INDEX_TYPE

    project = tmp_path / "bundle"
    (project / "files").mkdir(parents=True)
    (project / "files" / "w.bin").write_bytes(b"weights!" * 1000)
    (project / "predict.py").write_text(MOUNTED_PREDICT)
    model = f"{registry}/cogkit-test/bundle-{uuid.uuid4().hex[:8]}"
    (project / "cog.yaml").write_text(
        'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n'
        f"model: {model}\nweights:\n  - name: base\n    target: /weights/base\n    source: ./files\n"
    )
    env = {**build_env, "COG_CACHE_DIR": str(tmp_path / "cache"), "COG_MODEL_TAG": "v1"}
    try:
        early = cli("push", cwd=project, env=env)
        assert early.returncode == 1
        assert 'weights.lock is out of sync with cog.yaml: "base": not imported yet' in early.stderr
        assert cli("weights", "import", cwd=project, env=env).returncode == 0
        pushed = cli("push", cwd=project, env=env)
        assert pushed.returncode == 0, pushed.stderr
        assert f"├─ image {model}:cog-image.v1" in pushed.stderr.splitlines()
        index = _manifest_of(model, "v1", INDEX_TYPE)
        assert index["mediaType"] == INDEX_TYPE
        image, weight = index["manifests"]
        assert image["platform"] == {"architecture": "amd64", "os": "linux"}
        assert weight["artifactType"] == ARTIFACT_TYPE
        assert weight["annotations"]["run.cog.weight.name"] == "base"
        lock = json.loads((project / "weights.lock").read_text())
        assert weight["digest"] == lock["weights"][0]["digest"]
        # every child resolves in the repository with the size the index gives it
        for child in index["manifests"]:
            host, _, name = model.partition("/")
            request = urllib.request.Request(
                f"http://{host}/v2/{name}/manifests/{child['digest']}", headers={"Accept": child["mediaType"]}
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                assert len(response.read()) == child["size"]
        positional = cli("push", f"{model}:other", cwd=project, env=env)
        assert positional.returncode == 1
        assert "positional image argument not supported with 'model' config" in positional.stderr
    finally:
        subprocess.run(["/usr/bin/docker", "rmi", "-f", f"{model}:cog-image.v1"], capture_output=True)


def _manifest_of(model: str, reference: str, media_type: str) -> dict:
    host, _, name = model.partition("/")
    request = urllib.request.Request(
        f"http://{host}/v2/{name}/manifests/{reference}", headers={"Accept": media_type}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_cog_model_env_overrides_pick_the_repository_and_tag(
    tmp_path: Path, registry: str, cli, build_env, docker_engine
) -> None:
    """Cog 0.20's COG_MODEL / COG_MODEL_REGISTRY / COG_MODEL_REPO / COG_MODEL_TAG (pkg/model/resolve.go)."""
    import re

    from cogkit.model.weights import INDEX_TYPE

    project = tmp_path / "envref"
    (project / "files").mkdir(parents=True)
    (project / "files" / "w.bin").write_bytes(b"env weights" * 100)
    (project / "predict.py").write_text(MOUNTED_PREDICT)
    base = f"{registry}/cogkit-test/never-{uuid.uuid4().hex[:8]}"
    (project / "cog.yaml").write_text(
        'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n'
        f"model: {base}\nweights:\n  - name: base\n    target: /weights/base\n    source: ./files\n"
    )
    other = f"cogkit-test/over-{uuid.uuid4().hex[:8]}"
    env = {**build_env, "COG_CACHE_DIR": str(tmp_path / "cache")}
    parts = {**env, "COG_MODEL_REGISTRY": registry, "COG_MODEL_REPO": other}
    pushed_images: list[str] = []
    try:
        imported = cli("weights", "import", cwd=project, env=parts)
        assert imported.returncode == 0, imported.stderr
        assert f"Imported 1 weight artifact(s) to {registry}/{other}" in imported.stdout + imported.stderr
        digest = json.loads((project / "weights.lock").read_text())["weights"][0]["digest"]
        assert _manifest_of(f"{registry}/{other}", digest, MANIFEST_TYPE)["artifactType"] == ARTIFACT_TYPE
        # COG_MODEL, the full reference, wins over everything (the parts are ignored then)
        wins = {**parts, "COG_MODEL": f"{registry}/{other}:v3", "COG_MODEL_TAG": "x"}
        full = cli("push", cwd=project, env=wins)
        assert full.returncode == 0, full.stderr
        pushed_images.append(f"{registry}/{other}:cog-image.v3")
        assert f"├─ image {registry}/{other}:cog-image.v3" in full.stderr.splitlines()
        assert _manifest_of(f"{registry}/{other}", "v3", INDEX_TYPE)["mediaType"] == INDEX_TYPE
        # no tag anywhere: a UTC timestamp tag, as Cog generates
        stamped = cli("push", cwd=project, env=parts)
        assert stamped.returncode == 0, stamped.stderr
        line = next(x for x in stamped.stderr.splitlines() if x.startswith("model "))
        tag = line.rsplit(":", 1)[1]
        assert re.fullmatch(r"\d{8}T\d{6}Z", tag), line
        pushed_images.append(f"{registry}/{other}:cog-image.{tag}")
        assert _manifest_of(f"{registry}/{other}", tag, INDEX_TYPE)["mediaType"] == INDEX_TYPE
        # mistakes: one line each, before anything is built
        mistakes = {
            "COG_MODEL_TAG": ("cog-mine", 'invalid COG_MODEL_TAG "cog-mine": "cog-" is a reserved prefix'),
            "COG_MODEL_REPO": ("a/b:c", 'invalid COG_MODEL_REPO "a/b:c": must be a bare repository path'),
            "COG_MODEL_REGISTRY": ("h/x", 'invalid COG_MODEL_REGISTRY "h/x": must be a bare host'),
        }
        for var, (value, message) in mistakes.items():
            bad = cli("push", cwd=project, env={**env, var: value})
            assert bad.returncode == 1 and f"error: {message}" in bad.stderr, (var, bad.stderr)
            assert "Traceback" not in bad.stderr and "base image" not in bad.stderr
        pinned = cli("push", cwd=project, env={**env, "COG_MODEL": f"{registry}/{other}@sha256:{'0' * 64}"})
        assert pinned.returncode == 1
        assert "cannot push to digest-pinned ref" in pinned.stderr
        assert "model push requires a tag" in pinned.stderr
        config = project / "cog.yaml"
        config.write_text(config.read_text().replace(f"model: {base}", f"image: {base}"))
        conflict = cli("weights", "status", cwd=project, env={**env, "COG_MODEL": f"{registry}/{other}:v3"})
        assert conflict.returncode == 1
        assert "error: 'image' in cog.yaml cannot be combined with COG_MODEL* env vars" in conflict.stderr
        # the env can stand in for a missing model: altogether
        config.write_text(config.read_text().replace(f"image: {base}\n", ""))
        status = cli("weights", "status", cwd=project, env={**env, "COG_MODEL": f"{registry}/{other}"})
        assert status.returncode == 0, status.stderr
        assert "base  ready  /weights/base" in status.stdout
    finally:
        subprocess.run(["/usr/bin/docker", "rmi", "-f", *pushed_images], capture_output=True)


LOCAL_PREDICT = """import os

from cog import BasePredictor


class Predictor(BasePredictor):
    def setup(self) -> None:
        self.outside = open(os.environ["OUTSIDE"] + "/config.json").read().strip()

    def predict(self) -> str:
        inside = open("models/tok/config.json").read().strip()  # /src/models/tok, relative as in the image
        mode = oct(os.stat(os.environ["OUTSIDE"] + "/config.json").st_mode & 0o777)
        return f"{self.outside} {inside} {mode} {os.path.islink(os.environ['OUTSIDE'])}"
"""


def test_local_runs_see_managed_weights_at_their_targets(tmp_path: Path, registry: str, cli) -> None:
    """--local (no Docker): each weight at its target, as the image mounts it; removed afterwards."""
    project = tmp_path / "localw"
    (project / "files").mkdir(parents=True)
    (project / "files" / "config.json").write_text("from-the-store")
    (project / "predict.py").write_text(LOCAL_PREDICT)
    outside_root = Path(f"/tmp/cogkit-test-{uuid.uuid4().hex[:8]}")
    outside = outside_root / "w"
    model = f"{registry}/cogkit-test/localw-{uuid.uuid4().hex[:8]}"
    (project / "cog.yaml").write_text(
        'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n'
        f"model: {model}\nweights:\n"
        f"  - name: outside\n    target: {outside}\n    source: ./files\n"
        "  - name: inside\n    target: /src/models/tok\n    source: ./files\n"
    )
    env = {"COG_CACHE_DIR": str(tmp_path / "cache"), "OUTSIDE": str(outside),
           "DOCKER_HOST": "unix:///nonexistent/docker.sock", "COGKIT_DOCKER_CLI": "/bin/false"}  # fmt: skip
    gated = cli("run", "--local", cwd=project, env=env)
    assert gated.returncode == 1  # the same drift gate as a container run
    assert "weights.lock is out of sync with cog.yaml: " in gated.stderr
    assert '"inside": not imported yet' in gated.stderr
    assert cli("weights", "import", cwd=project, env=env).returncode == 0
    ran = cli("run", "--local", cwd=project, env=env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "from-the-store from-the-store 0o444 True\n"
    assert not outside_root.exists() and not (project / "models").exists(), "links and made dirs are removed"
    assert not list((project / ".cog" / "mounts").iterdir())
    # serve --local: the weights are there for the server's life, gone once it ends
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [sys.executable, "-m", "cogkit", "serve", "--local", "-p", str(port), "--no-reload"]
    server = subprocess.Popen(argv, cwd=project, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health-check", timeout=2) as response:
                    if json.loads(response.read())["status"] == "READY":
                        break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "serve --local did not get ready"
            time.sleep(0.2)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/predictions", data=b'{"input": {}}',
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read())["output"] == "from-the-store from-the-store 0o444 True"
        assert outside.is_symlink()
        shutdown = urllib.request.Request(f"http://127.0.0.1:{port}/shutdown", data=b"", method="POST")
        urllib.request.urlopen(shutdown, timeout=10).close()
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert not outside_root.exists() and not (project / "models").exists()
    # an existing path is never replaced
    outside.mkdir(parents=True)
    try:
        taken = cli("run", "--local", cwd=project, env=env)
        assert taken.returncode == 1
        expected = f'error: weight "outside": {outside} already exists, and --local puts the weight there'
        assert expected in taken.stderr
        assert "Traceback" not in taken.stderr and outside.is_dir()
    finally:
        outside.rmdir()
        outside_root.rmdir()
    # target /src/x with source ./x: the project's own directory is the weight already
    (project / "cog.yaml").write_text(
        (project / "cog.yaml").read_text().replace("target: /src/models/tok\n    source: ./files",
                                                   "target: /src/files\n    source: ./files")
    )
    assert cli("weights", "import", cwd=project, env=env).returncode == 0
    (project / "predict.py").write_text(LOCAL_PREDICT.replace("models/tok/config.json", "files/config.json"))
    again = cli("run", "--local", cwd=project, env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("from-the-store from-the-store")
    assert (project / "files" / "config.json").read_text() == "from-the-store"
