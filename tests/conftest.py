"""Shared fixtures: the real engines, registry and redis that end-to-end tests run against.

Every engine test runs on each engine in ENGINES (the `engine` fixture is parametrized by name;
`docker_engine`, `base_image` and `docker_cli` follow it), and while such a test runs DOCKER_HOST and
COGKIT_DOCKER_CLI point at that engine, so cogkit, python-on-whales and the docker client all reach it.
COGKIT_TEST_ENGINES=dockerd-28.5 (comma-separated names) narrows the set for a local run.

When CI=true a missing service is a failure, never a skip: CI must prove the real thing works.
Locally (CI unset) the same tests skip with a pointer to scripts/setup.sh.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

# The real-model fixtures (a cached torch + sentence-transformers venv, reference vectors, the embeddings
# example with its weights), for any test directory: tests/model_venv.py.
from model_venv import embeddings_project, embeddings_reference, embeddings_venv  # noqa: F401

# A suite started in the background by a non-interactive shell (`nohup bash -c '...' &`) inherits SIGINT
# ignored, and an ignored signal stays ignored across exec: every Ctrl-C test's child would never see its
# SIGINT. Give the children the default disposition, as a terminal would.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@dataclass(frozen=True)
class Engine:
    """A dockerd with its embedded BuildKit, and the docker client that matches it."""

    name: str
    sock: str
    cli: str

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    @property
    def env(self) -> dict[str, str]:
        """What a subprocess needs to use this engine (cogkit, python-on-whales, docker)."""
        return {"DOCKER_HOST": self.host, "COGKIT_DOCKER_CLI": self.cli}

    def docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.cli, "-H", self.host, *args], capture_output=True, text=True, timeout=300
        )


ENGINE_PREFIX = os.environ.get("COGKIT_ENGINE_PREFIX", "/opt/cogkit-engine")
ENGINES = {
    # The system's dockerd: Debian 12's docker.io 20.10 with BuildKit v0.8, the oldest engine supported.
    "dockerd-20.10": Engine("dockerd-20.10", "/var/run/docker.sock", "/usr/bin/docker"),
    # scripts/setup-engine.sh: dockerd 28.5 (BuildKit v0.25) on containerd 2.1, containerd image store.
    "dockerd-28.5": Engine(
        "dockerd-28.5",
        os.environ.get("COGKIT_ENGINE_SOCK", "/var/run/cogkit-docker28.sock"),
        f"{ENGINE_PREFIX}/root/usr/bin/docker",
    ),
}
SELECTED = [
    name.strip()
    for name in os.environ.get("COGKIT_TEST_ENGINES", ",".join(ENGINES)).split(",")
    if name.strip()
]
SYSTEM_ENGINE = ENGINES["dockerd-20.10"]
DOCKER_SOCK = SYSTEM_ENGINE.sock
BASE_IMAGE = os.environ.get("COGKIT_TEST_BASE_IMAGE", "cogkit-base:py3.11-bookworm")
REGISTRY = "127.0.0.1:5000"
AUTH_REGISTRY = "127.0.0.1:5001"
AUTH_REGISTRY_USER = "cogkit"
AUTH_REGISTRY_PASSWORD = "cogkit-secret"
REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_CLUSTER_URL = "redis://127.0.0.1:7001/0"  # any node; scripts/setup-redis-cluster.sh
DOCKER_CLI = SYSTEM_ENGINE.cli

IN_CI = os.environ.get("CI", "").lower() == "true"


def _missing(what: str) -> None:
    message = f"{what} is not available; run `bash scripts/setup.sh` first"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _docker_up(path: str = DOCKER_SOCK) -> bool:
    if not os.path.exists(path):
        return False
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in sock.recv(64)
    except OSError:
        return False


def _image_ids(engine: Engine) -> set[str]:
    listed = engine.docker("images", "-aq", "--no-trunc")
    return set(listed.stdout.split()) if listed.returncode == 0 else set()


@pytest.fixture(scope="session", autouse=True)
def _remove_images_the_tests_made() -> Iterator[None]:
    """Every image a test session creates is removed at its end (CI runs on one long-lived engine,
    and hundreds of test images filled its disk). The build cache stays, so the next run is warm.

    COGKIT_TEST_KEEP_IMAGES=1 turns this off, for test sessions that run side by side on one engine
    (each would otherwise remove the images the other is still using)."""
    engines = [ENGINES[name] for name in SELECTED if name in ENGINES and _docker_up(ENGINES[name].sock)]
    if not engines or os.environ.get("COGKIT_TEST_KEEP_IMAGES") == "1":
        yield
        return
    before = {engine.name: _image_ids(engine) for engine in engines}
    yield
    for engine in engines:
        made = sorted(_image_ids(engine) - before[engine.name])
        if made:
            engine.docker("rmi", "-f", *made)


@pytest.fixture(scope="session", params=SELECTED)
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each engine in turn (test ids say which); fails in CI when one is missing."""
    name = request.param
    if name not in ENGINES:
        pytest.fail(f"unknown engine {name!r} in COGKIT_TEST_ENGINES; known: {', '.join(ENGINES)}")
    chosen = ENGINES[name]
    if not _docker_up(chosen.sock) or not os.access(chosen.cli, os.X_OK):
        _missing(f"{name} at {chosen.sock} (client {chosen.cli})")
    return chosen


@pytest.fixture(autouse=True)
def _point_at_the_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """While an engine test runs, everything it starts reaches that test's engine."""
    if "engine" not in request.fixturenames:
        return
    chosen: Engine = request.getfixturevalue("engine")
    for key, value in chosen.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("BUILDKIT_HOST", raising=False)


@pytest.fixture(scope="session")
def docker_engine(engine: Engine) -> str:
    """The engine's dockerd socket, with its embedded BuildKit."""
    return engine.sock


@pytest.fixture(scope="session")
def base_image(engine: Engine) -> str:
    """The offline base image every test build starts from, present in the engine."""
    if engine.docker("image", "inspect", BASE_IMAGE).returncode != 0:
        _missing(f"base image {BASE_IMAGE} in {engine.name}")
    return BASE_IMAGE


@pytest.fixture(scope="session")
def registry() -> str:
    """The open local registry (push target)."""
    if not _tcp_open("127.0.0.1", 5000):
        _missing(f"registry at {REGISTRY}")
    return REGISTRY


@pytest.fixture(scope="session")
def auth_registry() -> tuple[str, str, str]:
    """The htpasswd-protected registry: (address, user, password)."""
    if not _tcp_open("127.0.0.1", 5001):
        _missing(f"registry at {AUTH_REGISTRY}")
    return AUTH_REGISTRY, AUTH_REGISTRY_USER, AUTH_REGISTRY_PASSWORD


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real redis-server on loopback."""
    if not _tcp_open("127.0.0.1", 6379):
        _missing("redis-server at 127.0.0.1:6379")
    return REDIS_URL


def _cluster_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"CLUSTER INFO\r\n")
            return b"cluster_state:ok" in sock.recv(4096)
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_cluster_url() -> str:
    """A real three-master Redis Cluster on loopback (7001-7003), healthy."""
    if not _cluster_ok(7001):
        _missing("Redis Cluster at 127.0.0.1:7001-7003 (scripts/setup-redis-cluster.sh)")
    return REDIS_CLUSTER_URL


@pytest.fixture
def docker_cli(engine: Engine) -> Iterator[str]:
    """The engine's docker client (DOCKER_HOST points it at the engine while the test runs)."""
    yield engine.cli
