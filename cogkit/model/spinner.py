"""A one-line status spinner on stderr for waits the user should see (container start, setup).

`--progress tty` animates in place; `plain` prints each new status once (logs and CI stay
readable); `quiet` prints nothing. `auto` means tty when stderr is a terminal and NO_COLOR is unset.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def resolve_mode(progress: str | None, stream: TextIO | None = None) -> str:
    stream = stream or sys.stderr
    mode = progress or "auto"
    if mode == "auto":
        mode = "tty" if stream.isatty() and not os.environ.get("NO_COLOR") else "plain"
    return mode


class Spinner:
    def __init__(self, progress: str | None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.mode = resolve_mode(progress, self.stream)
        self.started = time.monotonic()
        self._text = ""
        self._frame = 0
        self._last_draw = 0.0
        self._drawn = False

    def update(self, text: str) -> None:
        if self.mode == "quiet":
            return
        if self.mode == "plain":
            if text != self._text:
                self.stream.write(f"{text}\n")
                self.stream.flush()
            self._text = text
            return
        now = time.monotonic()
        if text == self._text and now - self._last_draw < 0.08:
            return
        self._text, self._last_draw = text, now
        self._frame = (self._frame + 1) % len(_FRAMES)
        self.stream.write(f"\r\x1b[2K{_FRAMES[self._frame]} {text} ({now - self.started:.1f}s)")
        self.stream.flush()
        self._drawn = True

    def done(self, text: str | None = None) -> None:
        if self.mode == "tty" and self._drawn:
            self.stream.write("\r\x1b[2K")
            if text:
                self.stream.write(f"✓ {text}\n")
            self.stream.flush()
        elif self.mode == "plain" and text:
            self.stream.write(f"{text}\n")
            self.stream.flush()
        self._drawn = False
