"""Global flags and environment: --version, --progress, NO_COLOR, --debug, COGKIT_NO_UPDATE_CHECK."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from pathlib import Path

from cli_helpers import copy_example

from cogkit import __version__


def test_version(cli) -> None:
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout == f"cogkit {__version__}\n"


def test_help_lists_every_cli_command(cli) -> None:
    out = cli("--help").stdout
    for command in ("predict", "run", "exec", "serve", "train", "init", "login", "build", "push", "doctor"):
        assert f"    {command} " in out


def test_progress_flag_before_or_after_the_command(tmp_path: Path, cli) -> None:
    project = copy_example("hello-world", tmp_path)
    before = cli("--progress", "plain", "predict", "--local", "-i", "text=x", cwd=project)
    after = cli("predict", "--local", "--progress", "quiet", "-i", "text=x", cwd=project)
    assert before.stdout == after.stdout == "hello x\n"
    assert "Starting the model process" in before.stderr
    assert after.stderr == ""  # quiet means quiet


def test_no_color_and_update_check_variable_accepted(tmp_path: Path, cli) -> None:
    project = copy_example("hello-world", tmp_path)
    result = cli(
        "predict",
        "--local",
        "-i",
        "text=x",
        cwd=project,
        env={"NO_COLOR": "1", "COGKIT_NO_UPDATE_CHECK": "1", "COGKIT_PROGRESS": "auto"},
    )
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stderr  # no escape codes, no spinner frames


def test_debug_shows_a_traceback_only_for_internal_errors(tmp_path: Path, cli) -> None:
    user_error = cli("--debug", "predict", "--local", "-i", "novalue", cwd=tmp_path)
    assert user_error.returncode == 1
    assert "Traceback" not in user_error.stderr  # user mistakes stay one line even with --debug


def test_tty_spinner_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal the wait is an animated one-line spinner that is cleared afterwards."""
    project = copy_example("hello-world", tmp_path)
    primary, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COGKIT_PROGRESS")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cogkit", "predict", "--local", "-i", "text=tty"],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=secondary,
    )
    os.close(secondary)
    out, _ = proc.communicate(timeout=60)
    chunks = b""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            data = os.read(primary, 65536)
        except OSError:
            break
        if not data:
            break
        chunks += data
    os.close(primary)
    assert out == b"hello tty\n"
    assert b"\r\x1b[2K" in chunks  # drawn in place and cleared
