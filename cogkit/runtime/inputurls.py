"""What a `Path`/`File` input may be: a `data:`, `http:` or `https:` URL, as Cog accepts; nothing else.

A bare path or a `file:` URL would make the model open a file the *client* chose on the server
(`/etc/passwd`, the server's own code), so every other value is a 422 naming the input and the
schemes allowed. The one exception is a path inside the input directory that the CLI created for
this run and named to the server when it started (`--input-dir` / COGKIT_INPUT_DIR): that is how
`cogkit predict --local -i f=@big.bin` hands over a file without copying it. A client can only
name entries the CLI put there for this run.

Also here: the limit on the number of file inputs in one request (COGKIT_MAX_INPUT_FILES).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

ALLOWED_SCHEMES = ("data", "http", "https")
INPUT_DIR_ENV = "COGKIT_INPUT_DIR"
MAX_FILES_ENV = "COGKIT_MAX_INPUT_FILES"
DEFAULT_MAX_FILES = 500
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_ALLOWED_TEXT = "data:, http: or https:"
_ECHO_CHARS = 500


def max_files_from_env() -> int:
    try:
        return max(1, int(os.environ.get(MAX_FILES_ENV, str(DEFAULT_MAX_FILES))))
    except ValueError:
        return DEFAULT_MAX_FILES


def input_dir_from_env() -> str | None:
    value = os.environ.get(INPUT_DIR_ENV)
    return os.path.realpath(value) if value else None


def inside_input_dir(value: str, input_dir: str | None) -> bool:
    """True for an existing entry under `input_dir`, named without `.`/`..`/`//` and no symlinked dirs.

    The CLI creates the directory (mode 0700) and puts one link per file in it; the entries may be
    symlinks to the user's files, so the check is on the name, not on where a link points.
    """
    if not input_dir or "\0" in value or not value.startswith(input_dir + os.sep):
        return False
    if os.path.normpath(value) != value:
        return False
    parts = value[len(input_dir) + 1:].split(os.sep)
    current = input_dir
    try:
        for part in parts[:-1]:
            current = os.path.join(current, part)
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                return False
        os.lstat(value)
    except OSError:
        return False
    return True


def _item_error(name: str, loc: list[Any], value: str, input_dir: str | None) -> dict[str, Any] | None:
    match = _SCHEME.match(value)
    if match is None:
        if inside_input_dir(value, input_dir):
            return None
        return _error(loc, value, f"input {name!r} is not a URL; a file input must be a {_ALLOWED_TEXT} URL")
    scheme = match.group(1).lower()
    if scheme not in ALLOWED_SCHEMES:
        return _error(loc, value, f"input {name!r} has URL scheme {match.group(1)!r}; "
                                  f"a file input must be a {_ALLOWED_TEXT} URL")
    if scheme == "data":
        if "," not in value:
            return _error(loc, value, f"input {name!r} is not a valid data URL (no ',' before the data); "
                                      f"a file input must be a {_ALLOWED_TEXT} URL")
        return None
    try:
        host = urlsplit(value).hostname
    except ValueError:
        host = None
    if not host:
        return _error(loc, value, f"input {name!r} is not a valid {scheme} URL (no host); "
                                  f"a file input must be a {_ALLOWED_TEXT} URL")
    return None


def _error(loc: list[Any], value: str, msg: str) -> dict[str, Any]:
    shown = value if len(value) <= _ECHO_CHARS else value[:_ECHO_CHARS] + "…"
    return {"type": "url_scheme", "loc": loc, "msg": msg, "input": shown,
            "ctx": {"allowed_schemes": list(ALLOWED_SCHEMES)}}


def check_file_inputs(values: dict[str, Any], single: Iterable[str], many: Iterable[str], *,
                      input_dir: str | None = None,
                      max_files: int = DEFAULT_MAX_FILES) -> list[dict[str, Any]]:
    """Cog-shaped 422 detail items for file inputs that are not allowed URLs; [] when all are fine."""
    errors: list[dict[str, Any]] = []
    count = 0
    for name in single:
        value = values.get(name)
        if isinstance(value, str):
            count += 1
            if (err := _item_error(name, ["body", "input", name], value, input_dir)) is not None:
                errors.append(err)
    for name in many:
        value = values.get(name)
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, str):
                    count += 1
                    loc = ["body", "input", name, index]
                    if (err := _item_error(name, loc, item, input_dir)) is not None:
                        errors.append(err)
    if count > max_files:
        errors.append({"type": "too_many_files", "loc": ["body", "input"], "input": count,
                       "msg": f"{count} file inputs in one request; the limit is {max_files} "
                              f"({MAX_FILES_ENV})"})
    return errors
