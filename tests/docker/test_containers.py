"""Pure decisions in cogkit.docker.containers and cogkit.model.environment: GPUs, ports, docker errors."""

from __future__ import annotations

import socket

import pytest
from python_on_whales.exceptions import DockerException

from cogkit.docker.containers import (
    GPUUnavailableError,
    ImageNotFoundError,
    PortInUseError,
    engine_error_from,
    ensure_port_free,
    has_registry_host,
    parse_env_flags,
    resolve_gpus,
)
from cogkit.errors import CogkitError, EngineError
from cogkit.model.environment import parse_publish


def test_gpus_follow_cog_yaml_and_only_automatic_ones_fall_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from cogkit.docker.containers import gpus_are_automatic

    assert resolve_gpus(None, wants_gpu=True) == "all"
    assert resolve_gpus(None, wants_gpu=False) is None
    assert resolve_gpus("device=1", wants_gpu=True) == "device=1"
    assert resolve_gpus("", wants_gpu=True) is None  # explicit CPU
    # Cog retries on the CPU only when the GPUs came from build.gpu, never after an explicit --gpus
    assert gpus_are_automatic(None, wants_gpu=True)
    assert not gpus_are_automatic("all", wants_gpu=True)
    assert not gpus_are_automatic(None, wants_gpu=False)


def test_port_in_use_is_detected() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is already in use"):
            ensure_port_free(port, "127.0.0.1")
    ensure_port_free(port, "127.0.0.1")  # free again once closed


@pytest.mark.parametrize(
    ("stderr", "kind", "text"),
    [
        ("Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?", EngineError,
         "no container engine reachable"),
        ("Error response from daemon: No such image: foo:latest", ImageNotFoundError, "image not found"),
        ("driver failed programming external connectivity: Bind for 0.0.0.0:8393 failed: port is already "
         "allocated", PortInUseError, "already in use"),
        ('could not select device driver "" with capabilities: [[gpu]]', GPUUnavailableError, "cannot give"),
        ("something else\nand more", EngineError, "doing it: something else"),
    ],
)  # fmt: skip
def test_engine_errors_become_one_line(stderr: str, kind: type, text: str) -> None:
    error = engine_error_from(DockerException(["docker"], 1, b"", stderr.encode()), "doing it")
    assert isinstance(error, kind)
    assert text in error.message
    assert "\n" not in error.message and error.hint


def test_publish_and_env_parsing() -> None:
    assert parse_publish("8888") == ("8888", 8888)
    assert parse_publish("8080:80") == ("8080", 80)
    assert parse_publish("127.0.0.1:8888") == ("127.0.0.1:8888", 8888)
    assert parse_publish("0.0.0.0:8080:80") == ("0.0.0.0:8080", 80)
    with pytest.raises(CogkitError, match="cannot parse port"):
        parse_publish("http")
    assert parse_env_flags(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(CogkitError, match="expected KEY=VALUE"):
        parse_env_flags(["NOEQUALS"])


def test_registry_host_detection() -> None:
    assert has_registry_host("127.0.0.1:5000/a/b:1")
    assert has_registry_host("registry.example.com/me/model")
    assert has_registry_host("localhost/model")
    assert not has_registry_host("hello-world")
    assert not has_registry_host("me/model")


def test_container_that_fails_to_start_is_removed(docker_engine, base_image) -> None:
    import subprocess

    from cogkit.docker.containers import start_container

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError):
            start_container(
                base_image,
                publish=[(f"127.0.0.1:{port}", 5000)],
                command=["sleep", "30"],
                purpose="unit-port-test",
            )
    left = subprocess.run(
        ["/usr/bin/docker", "ps", "-aq", "--filter", "label=run.cogkit.cli=unit-port-test"],
        capture_output=True,
        text=True,
    ).stdout
    assert left == "", "a created-but-not-started container was left behind"
