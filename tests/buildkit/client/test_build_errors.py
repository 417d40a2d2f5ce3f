"""Bad input and interruptions: one clear line plus a hint, nothing left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from cogkit.buildkit.client import Client, connect
from cogkit.errors import CogkitError, EngineError

HERE = Path(__file__).parent


@pytest.mark.parametrize(
    "address", ["tcp://", "unix://rel/path", "docker://relative", "http://x:1", "nonsense"]
)
def test_malformed_address(address: str) -> None:
    with pytest.raises(CogkitError) as info:
        connect(address)
    assert info.value.exit_code == 1 and info.value.hint
    assert "\n" not in info.value.message and "Traceback" not in info.value.render()


def test_unreachable_engines_name_the_address_and_how_to_start_one(tmp_path: Path) -> None:
    dead = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX) as s:  # a socket file with nobody listening
        s.bind(str(dead))
    cases = {
        f"docker://{tmp_path}/missing.sock": f"cannot reach dockerd at unix://{tmp_path}/missing.sock",
        f"docker://{dead}": f"cannot reach dockerd at unix://{dead}",
        f"unix://{tmp_path}/none.sock": f"cannot reach buildkitd at unix://{tmp_path}/none.sock",
        "tcp://127.0.0.1:1": "cannot reach buildkitd at tcp://127.0.0.1:1",
    }
    for address, expected in cases.items():
        with pytest.raises(EngineError) as info:
            connect(address)
        assert info.value.message.startswith(expected), info.value.message
        assert info.value.exit_code == 1
        assert "setup.sh" in (info.value.hint or "") or "buildkitd" in (info.value.hint or "")


def test_docker_host_and_buildkit_host_select_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/from-docker-host.sock")
    with pytest.raises(EngineError, match="from-docker-host.sock"):
        connect()
    monkeypatch.setenv("BUILDKIT_HOST", f"unix://{tmp_path}/from-buildkit-host.sock")
    with pytest.raises(EngineError, match="from-buildkit-host.sock"):
        connect()
    with pytest.raises(EngineError, match="explicit.sock"):
        connect(f"unix://{tmp_path}/explicit.sock")


def test_nonexistent_context_fails_before_the_build(dockerd: Client, tmp_path: Path) -> None:
    called = []
    with pytest.raises(CogkitError, match="does not exist") as info:
        dockerd.build(called.append, local_dirs={"context": tmp_path / "nope"}, progress="quiet")  # type: ignore[arg-type]
    assert not called and info.value.hint
    (tmp_path / "file").write_text("x")
    with pytest.raises(CogkitError, match="not a directory"):
        dockerd.build(called.append, local_dirs={"context": tmp_path / "file"}, progress="quiet")  # type: ignore[arg-type]


def _processes_with(marker: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read()
        except OSError:
            continue
        if marker.encode() in cmdline and b"interrupt_build.py" not in cmdline:
            found.append(pid)
    return found


def test_ctrl_c_cancels_the_solve_and_leaves_no_sockets(docker_engine: str, base_image: str) -> None:
    marker = f"cogkit-interrupt-{uuid.uuid4().hex}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("BUILDKIT_HOST", None)
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "interrupt_build.py"), base_image, marker],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.rstrip().endswith(" started"):
                break
        else:
            pytest.fail("the long step never started:\n" + "".join(lines))
        assert _processes_with(marker), "the step's process should be running in the build container"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines.append(out)
    text = "".join(lines)
    assert proc.returncode == 0, text
    assert "INTERRUPTED" in text and "SOCKETS-AFTER []" in text, text
    during = next(line for line in text.splitlines() if line.startswith("SOCKETS-DURING-SETUP"))
    assert int(during.split()[1]) >= 1, "the socket probe must see the live proxy, or it proves nothing"
    deadline = time.monotonic() + 20
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _processes_with(marker), "the daemon kept running the interrupted step"


def test_local_source_without_a_directory_is_named(dockerd: Client, tmp_path: Path) -> None:
    from cogkit import buildkit, llb

    def build(gw: buildkit.Gateway) -> buildkit.BuildResult:
        state = llb.scratch().file(llb.copy(llb.local("weights"), "/", "/w"))
        return buildkit.BuildResult(state.marshal(caps=gw.caps))

    with pytest.raises(CogkitError, match="local source 'weights' but no directory") as info:
        dockerd.build(build, exporter=None, local_dirs={"context": tmp_path}, progress="quiet")
    assert "local_dirs" in (info.value.hint or "")
