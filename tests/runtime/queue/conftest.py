"""Real-process helpers for the queue tests: `cogkit queue-worker` processes (each with its own
predictor child), private redis-servers for restart tests, and key clean-up on the shared one."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from queue_helpers import is_cluster

from cogkit.runtime.queue.protocol import key_prefix

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WorkerProcess:
    """One `python -m cogkit queue-worker` in its own session (so SIGKILL takes its child too)."""

    def __init__(self, model: str, redis_url: str, stream: str, consumer: str, log_dir: Path,
                 args: list[str], env: dict[str, str]) -> None:
        self.consumer = consumer
        self.log_path = log_dir / f"{consumer}.log"
        cmd = [sys.executable, "-m", "cogkit", "queue-worker", "--redis", redis_url, "--stream", stream,
               "--consumer", consumer, *args]
        self.proc = subprocess.Popen(
            cmd, cwd=FIXTURES / model, stdout=subprocess.DEVNULL, stderr=open(self.log_path, "wb"),
            env={**os.environ, "PYTHONPATH": str(REPO), **env}, start_new_session=True,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> WorkerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "consuming stream" in self.log:
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"worker {self.consumer} exited {self.proc.returncode}:\n{self.log}")
            time.sleep(0.05)
        raise AssertionError(f"worker {self.consumer} not ready after {timeout}s:\n{self.log}")

    def kill(self) -> None:
        """SIGKILL the whole process group: the queue worker and its predictor child die at once."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)


@pytest.fixture(params=["standalone", "cluster"])
def redis_url(request: pytest.FixtureRequest) -> str:
    """Every queue end-to-end test runs against a standalone Redis and a three-master cluster."""
    if request.param == "cluster":
        return request.getfixturevalue("redis_cluster_url")
    return request.getfixturevalue("redis_url")


def sync_redis(url: str) -> redis.Redis | redis.RedisCluster:
    if is_cluster(url):
        return redis.RedisCluster.from_url(url)
    return redis.Redis.from_url(url)


@pytest.fixture
def stream(redis_url: str) -> Iterator[str]:
    """A fresh stream name; every key the test made under it is deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    client = sync_redis(redis_url)
    patterns = [f"{key_prefix(name)}*", f"prediction:{name}*"]  # and the first layout's copies
    keys = [name, f"{name}:schema", *(k for p in patterns for k in client.scan_iter(match=p, count=1000))]
    for key in keys:  # one by one: on a cluster they live in different slots
        client.delete(key)
    client.close()


@pytest.fixture
def start_worker(tmp_path: Path, redis_url: str) -> Iterator:
    """start_worker(stream, model="basic", *args, redis=..., env=...) -> a ready WorkerProcess."""
    started: list[WorkerProcess] = []
    runs = tmp_path / "runs"
    runs.mkdir()

    def start(stream: str, *args: str, model: str = "basic", redis: str | None = None,
              env: dict[str, str] | None = None, ready: bool = True) -> WorkerProcess:
        consumer = f"w{len(started)}-{uuid.uuid4().hex[:6]}"
        worker = WorkerProcess(model, redis or redis_url, stream, consumer, tmp_path, list(args),
                               {"RUNS_DIR": str(runs), **(env or {})})
        started.append(worker)
        return worker.wait_ready() if ready else worker

    start.runs_dir = runs  # type: ignore[attr-defined]
    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.kill()


class PrivateRedis:
    """A redis-server of our own (append-only file on), so a test may stop and restart it."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=open(self.dir / "redis.log", "ab"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=0.2).ping():
                    return
            except redis.exceptions.RedisError:
                time.sleep(0.05)
        raise AssertionError(f"private redis-server did not start:\n{(self.dir / 'redis.log').read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed; run `bash scripts/setup.sh`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = PrivateRedis(workdir)
    server.start()
    yield server
    server.stop()
