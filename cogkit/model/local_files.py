"""`--local` file inputs without copying: `-i f=@big.bin` becomes a link in a directory made for this run.

The prediction server accepts a path as a file input only when it lies inside the directory
it was told about at start (COGKIT_INPUT_DIR); any other path is a 422, so an HTTP client can
never make it open a file of its choosing. The CLI creates that directory (mode 0700, fresh for
each run), puts one symlink per `@file` in it (in its own numbered subdirectory, keeping the
file's name), hands the link's path to the server, and removes the directory (links only,
never the files they point to) when the run ends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from cogkit.errors import InputError

INPUT_DIR_ENV = "COGKIT_INPUT_DIR"  # read by cogkit.runtime.inputurls in the server


class RunInputDir:
    """The private directory of one `--local` run and the links made in it."""

    def __init__(self) -> None:
        self.path = os.path.realpath(tempfile.mkdtemp(prefix="cogkit-run-inputs-"))
        self._count = 0

    def __enter__(self) -> RunInputDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def link(self, path_text: str, base_dir: Path | None = None) -> str:
        """A path inside the run dir that points at the user's file `path_text` (checked to be a file)."""
        source = Path(path_text).expanduser()
        if base_dir is not None and not source.is_absolute():
            source = base_dir / source
        if not source.exists():
            raise InputError(f"file not found: {path_text}",
                             hint="paths after @ are relative to the current directory")
        if not source.is_file():
            raise InputError(f"{path_text} is not a file", hint="pass a file after @, not a directory")
        if not os.access(source, os.R_OK):
            raise InputError(f"cannot read {path_text}: permission denied",
                             hint="check the file's permissions")
        self._count += 1
        slot = os.path.join(self.path, str(self._count))
        os.mkdir(slot, 0o700)
        target = os.path.join(slot, _safe_name(source.name))
        os.symlink(os.path.realpath(source), target)
        return target

    def stage(self, raw: dict[str, Any], schema: dict[str, Any] | None, mode: str,
              base_dir: Path | None = None) -> dict[str, Any]:
        """`raw` -i values with `@file` values of file inputs replaced by links in this run's dir."""
        from cogkit.schema.refs import file_fields

        single, many = file_fields(schema, mode)
        if not single and not many:
            return raw
        staged = dict(raw)
        for name, value in raw.items():
            if name not in single and name not in many:
                continue
            if isinstance(value, list):
                staged[name] = [self.link(v[1:], base_dir) if _is_at(v) else v for v in value]
            elif _is_at(value):
                staged[name] = self.link(value[1:], base_dir)
        return staged

    def cleanup(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)  # unlinks the symlinks; their targets stay


def _is_at(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("@") and len(value) > 1


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).lstrip(".")
    return cleaned[:200] or "file"
