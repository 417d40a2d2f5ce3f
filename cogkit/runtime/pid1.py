"""A minimal init for PID 1 in cogkit images: start the command, forward signals, reap zombies.

PID 1 gets no default signal handlers from the kernel and inherits every orphaned process, so
without an init `docker stop` waits 10 s and predictors that spawn subprocesses leak zombies.
This does what tini does for us, in the Python the image already has (no extra apt step). It runs
as `python3 -I -S pid1.py -- CMD...` and imports nothing but the standard library.
"""

import os
import signal
import sys

FORWARDED = (
    signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
    signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGCONT,
)  # fmt: skip


def take_terminal() -> None:
    """On a TTY, make this (the command's) process group the foreground one, as tini does.

    Otherwise an interactive command (`cogkit run python`) is in a background group and is
    stopped by SIGTTIN the moment it reads the terminal.
    """
    try:
        if not os.isatty(0):
            return
        previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(0, os.getpgrp())
        finally:
            signal.signal(signal.SIGTTOU, previous)
    except OSError:
        pass


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("pid1: no command given", file=sys.stderr)
        return 2
    child = os.fork()
    if child == 0:
        try:
            os.setpgid(0, 0)
        except OSError:
            pass
        take_terminal()
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            print(f"pid1: cannot run {argv[0]}: {exc.strerror}", file=sys.stderr)
            os._exit(127)

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for sig in FORWARDED:
        signal.signal(sig, forward)
    while True:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
        if pid == child:
            # Like tini: exit with the command's status; the engine kills whatever is left.
            code = os.waitstatus_to_exitcode(wait_status)
            return 128 - code if code < 0 else code
        # any other pid was an orphan we just reaped


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
