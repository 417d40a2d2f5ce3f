"""Shared fixtures: the real engine, registry and redis that end-to-end tests run against.

When CI=true a missing service is a failure, never a skip: CI must prove the real thing works.
Locally (CI unset) the same tests skip with a pointer to scripts/setup.sh.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator

import pytest

DOCKER_SOCK = "/var/run/docker.sock"
BASE_IMAGE = os.environ.get("COGKIT_TEST_BASE_IMAGE", "cogkit-base:py3.11-bookworm")
REGISTRY = "127.0.0.1:5000"
AUTH_REGISTRY = "127.0.0.1:5001"
AUTH_REGISTRY_USER = "cogkit"
AUTH_REGISTRY_PASSWORD = "cogkit-secret"
REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_CLUSTER_URL = "redis://127.0.0.1:7001/0"  # any node; scripts/setup-redis-cluster.sh
DOCKER_CLI = "/usr/bin/docker"  # Debian's 20.10 client, matching the daemon

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


def _docker_up() -> bool:
    if not os.path.exists(DOCKER_SOCK):
        return False
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(DOCKER_SOCK)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in sock.recv(64)
    except OSError:
        return False


def _image_ids() -> set[str]:
    listed = subprocess.run([DOCKER_CLI, "images", "-aq", "--no-trunc"], capture_output=True, text=True)
    return set(listed.stdout.split()) if listed.returncode == 0 else set()


@pytest.fixture(scope="session", autouse=True)
def _remove_images_the_tests_made() -> Iterator[None]:
    """Every image a test session creates is removed at its end (CI runs on one long-lived engine,
    and hundreds of test images filled its disk). The build cache stays, so the next run is warm.

    COGKIT_TEST_KEEP_IMAGES=1 turns this off, for test sessions that run side by side on one engine
    (each would otherwise remove the images the other is still using)."""
    if not _docker_up() or os.environ.get("COGKIT_TEST_KEEP_IMAGES") == "1":
        yield
        return
    before = _image_ids()
    yield
    made = sorted(_image_ids() - before)
    if made:
        subprocess.run([DOCKER_CLI, "rmi", "-f", *made], capture_output=True)


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The dockerd socket, with its embedded BuildKit; fails in CI when missing."""
    if not _docker_up():
        _missing(f"dockerd at {DOCKER_SOCK}")
    return DOCKER_SOCK


@pytest.fixture(scope="session")
def base_image(docker_engine: str) -> str:
    """The offline base image every test build starts from."""
    found = subprocess.run([DOCKER_CLI, "image", "inspect", BASE_IMAGE], capture_output=True)
    if found.returncode != 0:
        _missing(f"base image {BASE_IMAGE}")
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
def docker_cli() -> Iterator[str]:
    yield DOCKER_CLI
