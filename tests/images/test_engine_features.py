"""What the newer engine does for real, on both engines: each test checks the capability and says what
it expects of dockerd 20.10 (BuildKit v0.8, classic image store) and of dockerd 28.5 (BuildKit v0.25,
containerd image store, from scripts/setup-engine.sh).

- MergeOp placement of separated weights, proven in bytes (sent, exported blob, pushed blobs);
- registry cache export and import across a prune of the engine's whole build cache;
- the base image's resolve mode: the engine's own copy without a registry round trip, `--pull`
  asking the registry, and a base the engine lacks pulled.
"""

from __future__ import annotations

import http.server
import io
import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cogkit.buildkit import connect
from cogkit.errors import CogkitError
from cogkit.images.build import BuildOutcome, BuildRequest, build
from cogkit.images.push import push

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
HELLO = (
    "from cog import BasePredictor\n\n\n"
    "class Predictor(BasePredictor):\n    def predict(self) -> str:\n        return 'hi'\n"
)
MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.oci.image.index.v1+json",
])  # fmt: skip
WEIGHTS_BYTES = 24 << 20


def _exports_images() -> bool:
    """Whether the engine the test runs on (DOCKER_HOST) has BuildKit's own exporters."""
    with connect() as client:
        return client.exports_images


def _project(root: Path, cog_yaml: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cog.yaml").write_text(cog_yaml)
    (root / "predict.py").write_text(HELLO)
    return root


def _request(project: Path, base_image: str, **options: object) -> BuildRequest:
    request = BuildRequest(
        cwd=project, base_image=base_image, ca_cert=CA_BUNDLE, progress="quiet", out=io.StringIO()
    )
    for key, value in options.items():
        setattr(request, key, value)
    return request


def _layers(registry: str, repository: str, reference: str) -> dict[str, int]:
    """The pushed image's layer blobs (digest -> compressed size); an index is followed to amd64."""
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        manifest = json.load(response)
    if "manifests" in manifest:
        (image,) = [m for m in manifest["manifests"] if m.get("platform", {}).get("architecture") == "amd64"]
        return _layers(registry, repository, image["digest"])
    return {layer["digest"]: layer["size"] for layer in manifest["layers"]}


def _cached(outcome: BuildOutcome) -> dict[str, bool]:
    return {t.name: t.cached for t in outcome.layer_times}


def test_separated_weights_cost_zero_bytes_when_a_dependency_is_added(
    base_image: str, registry: str, tmp_path: Path
) -> None:
    """Both layouts keep the weights out of a dependency edit: 0 weight bytes sent over the session, the
    same weights blob exported, and 0 weight bytes pushed. Only MergeOp (dockerd 28.5) also keeps the
    dependencies out of a weights edit; on dockerd 20.10 (no MergeOp) the weights sit below them."""
    yaml = "build:\n  python_version: '3.11'\n  python_packages: [{}]\npredict: predict.py:Predictor\n"
    project = _project(tmp_path / "weights", yaml.format("six==1.16.0"))
    (project / "model.bin").write_bytes(uuid.uuid4().bytes * (WEIGHTS_BYTES // 16))
    repository = f"cogkit-test/merge-{uuid.uuid4().hex[:8]}"
    request = _request(project, base_image, tag=f"{registry}/{repository}", separate_weights=True)

    first = push(request)
    assert first.build.pushed == _exports_images()  # 28.5: from the image exporter; 20.10: docker push
    before = _layers(registry, repository, first.digest)  # type: ignore[arg-type]
    (weights_blob,) = [d for d, size in before.items() if size >= WEIGHTS_BYTES]  # random bytes: no shrink
    weights_layer = next(name for name in first.build.compiled.layers if name.startswith("weights:"))

    (project / "cog.yaml").write_text(yaml.format("six==1.16.0, idna==3.7"))
    second = push(request)
    after = _layers(registry, repository, second.digest)  # type: ignore[arg-type]
    assert second.build.report.sync["weights"].bytes_sent == 0  # copied: 0 bytes crossed the session
    assert _cached(second.build)[weights_layer]  # the weights step was not re-run
    assert weights_blob in after  # exported: the very same blob, so the registry already had it
    pushed = {d: size for d, size in after.items() if d not in before}
    assert pushed and sum(pushed.values()) < 10 << 20, pushed  # pushed: the new packages, no weights

    with (project / "model.bin").open("ab") as fh:  # now edit the weights
        fh.write(b"more")
    third = push(request)
    cached = _cached(third.build)
    dependencies = [name for name in third.build.compiled.layers if name.startswith("python packages")]
    assert dependencies and not cached[weights_layer]
    if third.build.compiled.uses_merge:  # dockerd 28.5: an independent layer; nothing else re-runs
        assert all(cached[name] for name in third.build.compiled.layers if name != weights_layer), cached
        changed = set(_layers(registry, repository, third.digest)) - set(after)  # type: ignore[arg-type]
        assert len(changed) == 1  # the weights blob alone
    else:  # dockerd 20.10: the dependency steps above the weights run again (from warm caches)
        assert not any(cached[name] for name in dependencies)


@pytest.fixture
def cache_ref(registry: str) -> str:
    return f"{registry}/cogkit-test/cache-{uuid.uuid4().hex[:10]}:buildcache"


def test_registry_cache_is_exported_and_imported_after_a_prune(
    base_image: str,
    cache_ref: str,
    engine,
    tmp_path: Path,  # noqa: ANN001 (tests/conftest.py Engine)
) -> None:
    """dockerd 28.5 (containerd store) exports a registry cache; after its whole build cache is pruned,
    a rebuild takes every step from the registry (and without the import, the steps run again).
    dockerd 20.10 cannot export one and says so before building."""
    nonce = uuid.uuid4().hex
    project = _project(
        tmp_path / "cached",
        f"build:\n  python_version: '3.11'\n  run:\n    - echo {nonce} > /nonce\n"
        "predict: predict.py:Predictor\n",
    )
    export = f"type=registry,ref={cache_ref},mode=max"
    request = _request(project, base_image, tag=f"cogkit-test/cache-{nonce[:8]}", cache_to=[export])
    if not _exports_images():
        with pytest.raises(CogkitError, match="cannot export 'registry' cache"):
            build(request)
        return
    first = build(request)
    run_step = next(name for name in first.compiled.layers if nonce[:8] in name or name.startswith("run"))
    assert not _cached(first)[run_step]

    def prune() -> None:  # the 28.5 engine's own build cache, all of it (never the shared 20.10 one)
        assert engine.name == "dockerd-28.5"
        pruned = engine.docker("builder", "prune", "-af")
        assert pruned.returncode == 0, pruned.stderr

    prune()
    control = build(_request(project, base_image, tag=request.tag))
    assert not _cached(control)[run_step], "after a prune the step must run again without an import"
    prune()
    imported = build(
        _request(project, base_image, tag=request.tag, cache_from=[f"type=registry,ref={cache_ref}"])
    )
    assert all(_cached(imported).values()), _cached(imported)


class _RecordingRegistry(http.server.BaseHTTPRequestHandler):
    """A registry that knows no image and remembers who asked."""

    seen: list[str] = []

    def setup(self) -> None:  # every connection counts, HTTPS attempts at this plain port too
        super().setup()
        self.seen.append("connection")

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append(f"{self.command} {self.path}")
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recording_registry() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (_RecordingRegistry,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def test_base_image_in_the_engine_needs_no_registry_unless_pull(
    base_image: str,
    engine,
    recording_registry: tuple[str, list[str]],
    tmp_path: Path,  # noqa: ANN001
) -> None:
    """The base is tagged under a registry that answers 404 to everything: a build uses the engine's
    copy without asking it (28.5: resolve mode local; 20.10: default, which is local-first there), and
    --pull asks it (and fails, since it has nothing)."""
    host, seen = recording_registry
    local_only = f"{host}/cogkit-test/base:{uuid.uuid4().hex[:8]}"
    assert engine.docker("tag", base_image, local_only).returncode == 0
    try:
        project = _project(
            tmp_path / "base", "build:\n  python_version: '3.11'\npredict: predict.py:Predictor\n"
        )
        out = io.StringIO()
        build(_request(project, local_only, tag="cogkit-test/local-base", progress="plain", out=out))
        assert seen == [], seen
        expected = "local" if _exports_images() else "default"
        assert f"base image {local_only}: resolve mode {expected}" in out.getvalue()
        with pytest.raises(CogkitError):
            build(_request(project, local_only, tag="cogkit-test/local-base", pull=True))
        assert seen, "--pull must ask the registry"
    finally:
        engine.docker("rmi", local_only)


def test_base_image_the_engine_lacks_is_pulled(
    base_image: str,
    engine,
    registry: str,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    remote = f"{registry}/cogkit-test/base-{uuid.uuid4().hex[:8]}:1"
    assert engine.docker("tag", base_image, remote).returncode == 0
    assert engine.docker("push", remote).returncode == 0
    assert engine.docker("rmi", remote).returncode == 0
    try:
        project = _project(
            tmp_path / "pulled", "build:\n  python_version: '3.11'\npredict: predict.py:Predictor\n"
        )
        outcome = build(_request(project, remote, tag="cogkit-test/pulled-base"))
        assert outcome.image_id
    finally:
        engine.docker("rmi", remote)


def test_the_same_context_gives_the_same_digest_on_a_pruned_cache(
    base_image: str,
    engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    """dockerd 28.5 (cap exporter.sourcedateepoch, BuildKit's own exporters): with SOURCE_DATE_EPOCH the
    exporter clamps history and file times and every step compiles bytecode keyed on hashes, so two
    builds from an empty build cache give one image digest. dockerd 20.10 (v0.8) has no such exporter
    option: it still builds, and the report says the export was not reproducible."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    project = _project(
        tmp_path / "repro", "build:\n  python_version: '3.11'\npredict: predict.py:Predictor\n"
    )
    tag = f"cogkit-test/repro-{uuid.uuid4().hex[:8]}"
    with connect() as client:
        has_cap = "exporter.sourcedateepoch" in client.caps and client.exports_images
    if not has_cap:
        assert not build(_request(project, base_image, tag=tag)).report.reproducible
        return
    first = build(_request(project, base_image, tag=tag, output=f"type=oci,dest={tmp_path / 'a.tar'}"))
    assert first.report.reproducible
    assert engine.name == "dockerd-28.5"  # the prune below is of this engine's own cache only
    assert engine.docker("builder", "prune", "-af").returncode == 0
    second = build(_request(project, base_image, tag=tag, output=f"type=oci,dest={tmp_path / 'b.tar'}"))
    assert not second.report.fully_cached  # really rebuilt from nothing
    digest = "containerimage.digest"
    assert second.report.exporter_response[digest] == first.report.exporter_response[digest]
    moby = build(_request(project, base_image, tag=tag))  # into dockerd's store: config times only
    assert moby.image_id and not moby.report.reproducible
