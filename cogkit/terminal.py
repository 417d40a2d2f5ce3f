"""Colour on a terminal: `error:`, `warning:`, `hint:` and success lines stand out.

Colour is used only when the stream is a TTY and nothing asked for plain output: NO_COLOR (any
value, https://no-color.org), `--no-color`, `--progress plain|quiet`, or TERM=dumb. The CLI turns
the flags into NO_COLOR at start-up, so child processes and every module see one switch.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

_CODES = {"error": "1;31", "warning": "1;33", "hint": "36", "ok": "32", "dim": "2"}
_PREFIXES = (("error:", "error"), ("warning:", "warning"), ("hint:", "hint"))


def colour_enabled(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def style(text: str, kind: str, stream: TextIO | None = None) -> str:
    """`text` wrapped in the colour for `kind` (error, warning, hint, ok, dim) when colour is on."""
    if not colour_enabled(stream):
        return text
    return f"\x1b[{_CODES[kind]}m{text}\x1b[0m"


def paint(message: str, stream: TextIO | None = None) -> str:
    """Colour the `error:`/`warning:`/`hint:` prefixes of a rendered message, line by line."""
    if not colour_enabled(stream):
        return message
    lines = []
    for line in message.split("\n"):
        for prefix, kind in _PREFIXES:
            if line.startswith(prefix):
                line = style(prefix, kind, stream) + line[len(prefix):]
                break
        lines.append(line)
    return "\n".join(lines)


def disable_colour() -> None:
    """--no-color / --progress plain: NO_COLOR for this process and everything it starts."""
    os.environ["NO_COLOR"] = "1"
