"""`cogkit exec` (the old `cogkit run`): commands in the build environment, project at /src."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from cli_helpers import copy_example


def test_exec_uses_the_build_environment_and_the_mounted_project(
    tmp_path: Path, cli, build_env, docker_engine
) -> None:
    project = copy_example("image-io", tmp_path)
    script = "import PIL, os, json; print(json.dumps([PIL.__version__, os.getcwd(), os.environ.get('FOO')]))"
    result = cli("exec", "-e", "FOO=bar", "python", "-c", script, cwd=project, env=build_env)
    assert result.returncode == 0, result.stderr
    version, cwd, foo = json.loads(result.stdout.strip().splitlines()[-1])
    assert version == "11.0.0"  # Pillow from requirements.txt, installed at build time
    assert cwd == "/src" and foo == "bar"
    # The project is bind-mounted: a file written in the container appears in the project.
    wrote = cli("exec", "sh", "-c", "echo from-container > /src/made-here.txt", cwd=project, env=build_env)
    assert wrote.returncode == 0, wrote.stderr
    assert (project / "made-here.txt").read_text() == "from-container\n"


def test_exec_passes_exit_status_stdin_and_flags_after_the_command(
    tmp_path: Path, cli, build_env, docker_engine
) -> None:
    project = copy_example("hello-world", tmp_path)
    assert cli("exec", "sh", "-c", "exit 7", cwd=project, env=build_env).returncode == 7
    piped = cli("exec", "python", "-", cwd=project, env=build_env, stdin="print(6 * 7)\n")
    assert piped.stdout == "42\n", piped.stderr
    # -p after the command belongs to the command, not to cogkit.
    echoed = cli("exec", "echo", "-p", "1234", cwd=project, env=build_env)
    assert echoed.stdout == "-p 1234\n"
    missing = cli("exec", "no-such-program", cwd=project, env=build_env)
    assert missing.returncode == 1
    assert "error: command not found in the environment: no-such-program" in missing.stderr


def test_exec_publishes_ports(tmp_path: Path, build_env, docker_engine) -> None:
    project = copy_example("hello-world", tmp_path)
    (project / "index.html").write_text("served from /src\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cogkit", "--progress", "quiet", "exec", "-p", str(port),
         "python", "-m", "http.server", str(port)],
        cwd=project, env={**os.environ, **build_env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        body = _get_until(f"http://127.0.0.1:{port}/index.html", proc, timeout=120)
        assert body == b"served from /src\n"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _get_until(url: str, proc: subprocess.Popen, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise AssertionError(f"{url} never answered")


def test_notebook_serves_jupyter(tmp_path: Path, build_env, docker_engine) -> None:
    """The notebook example: `cogkit exec -p PORT jupyter lab` answers on the published port."""
    project = copy_example("notebook", tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cogkit", "--progress", "quiet", "exec", "-p", str(port), "jupyter", "lab",
         "--ip", "0.0.0.0", "--port", str(port), "--allow-root", "--no-browser",
         "--IdentityProvider.token=cogkit"],
        cwd=project, env={**os.environ, **build_env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        body = _get_until(f"http://127.0.0.1:{port}/api/contents?token=cogkit", proc, timeout=600)
        names = {item["name"] for item in json.loads(body)["content"]}
        assert {"explore.ipynb", "predict.py", "cog.yaml"} <= names  # it sees the mounted project
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_exec_gives_an_interactive_tty_on_a_terminal(tmp_path: Path, build_env, docker_engine) -> None:
    """`cogkit exec python` from a terminal: the command sees a TTY and reads what is typed."""
    import pty
    import select

    project = copy_example("hello-world", tmp_path)
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cogkit", "--progress", "quiet", "exec", "python", "-c",
         "import sys; print('tty', sys.stdin.isatty(), sys.stdout.isatty()); print('got', input())"],
        cwd=project, env={**os.environ, **build_env}, stdin=secondary, stdout=secondary, stderr=secondary,
        start_new_session=True,
    )  # fmt: skip
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 120
    sent = False
    try:
        while time.monotonic() < deadline and b"got typed-line" not in seen:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(primary, 4096)
            except OSError:
                break
            seen += data
            if b"tty True True" in seen and not sent:
                os.write(primary, b"typed-line\r")
                sent = True
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(primary)
    assert b"tty True True" in seen, seen.decode(errors="replace")
    assert b"got typed-line" in seen
    assert proc.returncode == 0


def test_exec_container_removed_on_sigterm(tmp_path: Path, build_env, docker_engine) -> None:
    from cli_helpers import containers_labelled

    project = copy_example("hello-world", tmp_path)
    before = set(containers_labelled("exec"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cogkit", "--progress", "quiet", "exec", "sleep", "120"],
        cwd=project, env={**os.environ, **build_env}, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not set(containers_labelled("exec")) - before:
            time.sleep(0.2)
        assert set(containers_labelled("exec")) - before, "the container never started"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        assert proc.returncode == 130
        assert set(containers_labelled("exec")) - before == set()
    finally:
        if proc.poll() is None:
            proc.kill()
