"""Image config, cache mounts, full caching and step failures, on dockerd's real BuildKit."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

import pytest
from buildkit_client_helpers import docker, on_base

from cogkit import llb
from cogkit.buildkit.client import Client
from cogkit.buildkit.exporters import MobyExporter
from cogkit.errors import BuildError

CONFIG = {
    "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "COGKIT_MODE=test"],
    "Cmd": ["python", "-m", "cog.server"],
    "Entrypoint": ["/usr/bin/tini", "--"],
    "WorkingDir": "/src",
    "ExposedPorts": {"5000/tcp": {}},
    "Labels": {"org.cogkit.version": "0.1.0", "run.cog.has_init": "true"},
}


def test_image_config_lands_in_docker_and_a_second_build_is_fully_cached(
    dockerd: Client, base_image: str, image_tag: str
) -> None:
    token = uuid.uuid4().hex
    build = on_base(
        base_image,
        lambda base: (base.run(f"sh -c 'echo {token} > /built'", name="stamp").root(), CONFIG),
    )
    first = dockerd.build(build, exporter=MobyExporter([image_tag]), progress="quiet")
    inspect = json.loads(docker("image", "inspect", image_tag).stdout)[0]
    assert inspect["Id"] == first.image_id
    config = inspect["Config"]
    for key in ("Env", "Cmd", "Entrypoint", "WorkingDir", "ExposedPorts", "Labels"):
        assert config[key] == CONFIG[key], key
    assert not first.fully_cached
    assert any(v.name == "stamp" and not v.cached for v in first.vertices)

    second = dockerd.build(build, exporter=MobyExporter([image_tag]), progress="quiet")
    assert second.fully_cached
    assert second.image_id == first.image_id


def test_cache_mount_persists_across_builds(dockerd: Client, base_image: str, image_tag: str) -> None:
    cache_id = f"cogkit-test-{uuid.uuid4().hex}"
    mount = llb.cache("/cache", id=cache_id, sharing="locked")

    def writer(base: llb.State) -> tuple[llb.State, None]:
        step = base.run(["sh", "-c", f"echo from-first-build-{cache_id} >> /cache/log"], mounts=[mount])
        return step.root(), None

    def reader(base: llb.State) -> tuple[llb.State, None]:
        step = base.run(["sh", "-c", "cp /cache/log /seen-in-cache"], mounts=[mount], name="read the cache")
        return step.root(), None

    dockerd.build(on_base(base_image, writer), exporter=None, progress="quiet")
    dockerd.build(on_base(base_image, reader), exporter=MobyExporter([image_tag]), progress="quiet")
    seen = docker("run", "--rm", "--entrypoint", "cat", image_tag, "/seen-in-cache").stdout.decode()
    assert seen.splitlines() == [f"from-first-build-{cache_id}"]


def test_failing_step_reports_name_command_exit_code_and_log_tail(dockerd: Client, base_image: str) -> None:
    command = f"echo step-{uuid.uuid4().hex}; for i in 1 2 3; do echo line $i; done; echo broken >&2; exit 3"

    def failing(base: llb.State) -> tuple[llb.State, None]:
        return base.run(["sh", "-c", command], name="install things").root(), None

    with pytest.raises(BuildError) as info:
        dockerd.build(on_base(base_image, failing), exporter=None, progress="quiet")
    err = info.value
    assert err.message == "step 'install things' failed with exit code 3"
    assert err.step == "install things" and err.step_exit_code == 3  # type: ignore[attr-defined]
    assert err.exit_code == 1  # the process status of a failed build
    assert err.command == ["sh", "-c", command]  # type: ignore[attr-defined]
    tail = err.log_tail  # type: ignore[attr-defined]
    # stdout keeps its order; stderr is a separate pipe, so "broken" may land anywhere among them
    assert [line for line in tail if line.startswith("line")] == ["line 1", "line 2", "line 3"]
    assert "broken" in tail
    rendered = err.render()
    assert "\n" not in err.message and "command: sh -c" in rendered and "broken" in rendered


def test_no_cache_reruns_steps_that_would_be_cached(dockerd: Client, base_image: str) -> None:
    token = uuid.uuid4().hex
    build = on_base(base_image, lambda base: (base.run(f"sh -c 'echo {token}'", name="cheap").root(), None))
    dockerd.build(build, exporter=None, progress="quiet")
    assert dockerd.build(build, exporter=None, progress="quiet").fully_cached
    again = dockerd.build(build, exporter=None, no_cache=True, progress="quiet")
    assert not next(v for v in again.vertices if v.name == "cheap").cached


def test_caps_workers_and_disk_usage(dockerd: Client) -> None:
    caps = dockerd.caps
    assert {"exec.mount.cache", "exec.mount.secret", "file.base"} <= caps
    (worker,) = dockerd.workers()
    if "mergeop" in caps:  # dockerd 28.5 (BuildKit v0.25, containerd image store): containerd's worker
        assert worker.Labels["org.mobyproject.buildkit.worker.executor"] == "containerd"
        assert dockerd.exports_images
    else:  # dockerd 20.10 (BuildKit v0.8, classic store): the one `moby` worker, moby exporter only
        assert worker.ID == "moby" and not dockerd.exports_images
    assert all(record.ID for record in dockerd.control.disk_usage())


def test_prune_removes_exactly_the_filtered_cache_record(dockerd: Client, base_image: str) -> None:
    marker = f"prune-me-{uuid.uuid4().hex}"
    mount = llb.cache("/c", id=marker)
    build = on_base(
        base_image,
        lambda base: (base.run(["sh", "-c", f"echo {marker} > /c/f"], mounts=[mount]).root(), None),
    )
    dockerd.build(build, exporter=None, progress="quiet")
    usage = dockerd.control.disk_usage()
    (record,) = [r for r in usage if marker in r.Description and r.RecordType == "exec.cachemount"]
    pruned = dockerd.control.prune(filters=[f"id=={record.ID}"])
    assert [r.ID for r in pruned] == [record.ID]
    assert not [r for r in dockerd.control.disk_usage() if r.ID == record.ID]


BUILDX_CLI = "/opt/cogkit-engine/bin/docker"  # dockerd 28.5's client with the buildx plugin beside it


@pytest.mark.parametrize("record", [False, True])
def test_build_history_only_when_asked(
    engine: Any, dockerd: Client, base_image: str, record: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BuildKit >= v0.11 records every solve in its build history unless the solve is internal;
    cogkit leaves its builds out (~80 ms of a code-edit rebuild on 28.5) unless COGKIT_BUILD_HISTORY=1.
    dockerd 20.10 (BuildKit v0.8) has no history API: the flag must not break a build there."""
    monkeypatch.setenv("COGKIT_BUILD_HISTORY", "1" if record else "0")
    token = uuid.uuid4().hex
    build = on_base(base_image, lambda base: (base.run(f"sh -c 'echo {token} > /built'").root(), None))
    report = dockerd.build(build, exporter=None, progress="quiet")
    assert report.ref
    listed = subprocess.run(
        [BUILDX_CLI, "-H", engine.host, "buildx", "history", "ls", "--format", "{{.Ref}}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if engine.name == "dockerd-20.10":  # BuildKit v0.8: no ListenBuildHistory, so nothing is recorded
        assert listed.returncode != 0 and "ListenBuildHistory" in listed.stderr, listed.stderr[-500:]
        return
    assert listed.returncode == 0, listed.stderr[-500:]
    assert (report.ref in listed.stdout) is record, listed.stdout[-500:]
