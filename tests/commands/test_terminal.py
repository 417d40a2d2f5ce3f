"""Colour on a terminal (and never elsewhere), and shell completion generated from the parser."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
import time
from pathlib import Path

RED_ERROR = b"\x1b[1;31merror:\x1b[0m"


def _stderr_on_a_tty(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> bytes:
    primary, secondary = pty.openpty()
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COGKIT_PROGRESS", "TERM")}
    proc = subprocess.Popen([sys.executable, "-m", "cogkit", *args], cwd=cwd, env={**base, **(env or {})},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=secondary)
    os.close(secondary)
    proc.wait(timeout=60)
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
    return chunks


def test_errors_are_coloured_on_a_terminal_only(tmp_path: Path, cli) -> None:
    coloured = _stderr_on_a_tty(["run"], tmp_path)  # no cog.yaml here
    assert coloured.startswith(RED_ERROR + b" cog.yaml does not exist"), coloured
    assert b"\x1b[36mhint:\x1b[0m" in coloured
    for args, env in ((["run"], {"NO_COLOR": "1"}), (["--no-color", "run"], None),
                      (["--progress", "plain", "run"], None), (["run"], {"TERM": "dumb"})):
        plain = _stderr_on_a_tty(args, tmp_path, env)
        assert plain.startswith(b"error: cog.yaml does not exist"), (args, env, plain)
        assert b"\x1b[" not in plain, (args, env, plain)
    piped = cli("run", cwd=tmp_path, env={"NO_COLOR": ""})
    assert piped.stderr.startswith("error: cog.yaml does not exist") and "\x1b[" not in piped.stderr


def _complete(script: str, *words: str, cwd: Path | None = None) -> list[str]:
    """Ask bash's completion for `words` (the last one is being typed) with the generated script."""
    program = (
        'source "$1"; shift\n'
        'complete -p cogkit >/dev/null || exit 3\n'
        'COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=()\n'
        '"$(complete -p cogkit | sed -E "s/.*-F ([^ ]+).*/\\1/")" cogkit "${COMP_WORDS[COMP_CWORD]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(["bash", "-c", program, "bash", script, *words], capture_output=True, text=True,
                          timeout=30, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completion_from_the_parser(tmp_path: Path, cli) -> None:
    generated = cli("completion", "bash")
    assert generated.returncode == 0
    script = tmp_path / "cogkit.bash"
    script.write_text(generated.stdout)
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert _complete(str(script), "cogkit", "pre") == ["predict"]
    assert set(_complete(str(script), "cogkit", "")) >= {"build", "push", "predict", "serve", "playground",
                                                         "completion", "queue-worker"}
    assert _complete(str(script), "cogkit", "predict", "--setup") == ["--setup-timeout"]
    assert _complete(str(script), "cogkit", "--progress", "") == ["auto", "tty", "plain", "quiet"]
    assert _complete(str(script), "cogkit", "--progress", "plain", "serve", "--no-r") == ["--no-reload"]
    assert _complete(str(script), "cogkit", "queue", "s") == ["status", "submit"] or \
        _complete(str(script), "cogkit", "queue", "s") == ["submit", "status"]
    assert _complete(str(script), "cogkit", "debug", "--format", "") == ["text", "json", "dot"]
    assert _complete(str(script), "cogkit", "completion", "") == ["bash", "zsh", "fish"]
    (tmp_path / "inputs.json").write_text("{}")
    assert _complete(str(script), "cogkit", "predict", "--json", "inp", cwd=tmp_path) == ["inputs.json"]


def test_zsh_and_fish_scripts_cover_every_command(cli) -> None:
    from cogkit.cli import COMMAND_MODULES

    for shell in ("zsh", "fish"):
        out = cli("completion", shell)
        assert out.returncode == 0
        names = [m.replace("queue", "queue-worker") for m in COMMAND_MODULES] + ["queue"]
        words = set(out.stdout.replace("'", " ").split())
        for name in names:
            assert name in words, (shell, name)
    zsh = cli("completion", "zsh").stdout
    assert zsh.startswith("#compdef cogkit") and "bashcompinit" in zsh
    fish = cli("completion", "fish").stdout
    assert "complete -c cogkit -n '__fish_seen_subcommand_from predict' -l setup-timeout -r -F" in fish
    assert "-l progress -x -a 'auto tty plain quiet'" in fish
    for shell, check in (("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"])):
        if shutil.which(check[0]):
            path = Path(os.environ.get("TMPDIR", "/tmp")) / f"cogkit-completion.{shell}"
            path.write_text(cli("completion", shell).stdout)
            assert subprocess.run([*check, str(path)]).returncode == 0
