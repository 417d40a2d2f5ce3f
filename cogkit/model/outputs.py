"""Write a prediction's output the way Cog users expect: text on stdout, files on disk.

Strings print as-is, other values as JSON. File outputs arrive as data URLs (or http URLs when the
server uploads them); data URLs are decoded to `-o PATH` or `output.<ext>`, lists to `output.N.<ext>`,
and what was written is reported on stderr so stdout stays clean for piping.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cogkit.terminal import style

# mimetypes picks odd extensions for common types (.jpe, .bat for text); prefer the familiar ones.
_PREFERRED_EXT = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "text/plain": ".txt",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "video/mp4": ".mp4",
    "application/json": ".json",
    "application/octet-stream": ".bin",
    "model/gltf-binary": ".glb",
}


def is_data_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("data:") and "," in value[:512]


def decode_data_url(url: str) -> tuple[str, bytes]:
    """`data:<mime>[;base64],<payload>` → (mime, bytes)."""
    header, _, payload = url.partition(",")
    meta = header[len("data:") :].split(";")
    mime = meta[0] or "text/plain"
    if "base64" in meta[1:]:
        try:
            data = base64.b64decode(payload, validate=False)
        except binascii.Error as exc:
            raise ValueError(f"bad base64 in data URL: {exc}") from None
    else:
        data = urllib.parse.unquote_to_bytes(payload)
    return mime, data


def extension_for(mime: str) -> str:
    mime = mime.lower()
    return _PREFERRED_EXT.get(mime) or mimetypes.guess_extension(mime) or ".bin"


@dataclass
class OutputWriter:
    """Decides names and writes files for one prediction's output."""

    output_path: Path | None = None  # -o
    text_to_file: bool = True  # text/JSON outputs go to output_path too (an explicit -o)
    directory: Path = field(default_factory=Path.cwd)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    default_stem: str = "output"
    written: list[Path] = field(default_factory=list)
    into: Path | None = None  # -o naming an existing directory: default names, inside it

    def __post_init__(self) -> None:
        if self.output_path is not None:
            base = self.output_path if self.output_path.is_absolute() else self.directory / self.output_path
            if base.is_dir():
                self.into, self.output_path = base, None
    # ConcatenateIterator tokens joined into text (on a terminal); else Cog's JSON list, for scripts.
    join_tokens: bool = True

    def _target(self, mime: str, index: int | None, key: str | None) -> Path:
        ext = extension_for(mime)
        label = ".".join(str(part) for part in (key, index) if part is not None)
        if self.output_path is not None:
            base = self.output_path if self.output_path.is_absolute() else self.directory / self.output_path
            if not label:
                return base
            stem, suffix = base.with_suffix(""), base.suffix or ext
            return stem.parent / f"{stem.name}.{label}{suffix}"
        return (self.into or self.directory) / f"{self.default_stem}{'.' + label if label else ''}{ext}"

    def _said(self, target: Path) -> None:
        line = f"Written output to: {_display(target, self.directory)}"
        print(style(line, "ok", self.stderr), file=self.stderr)

    def _write_file(self, url: str, index: int | None = None, key: str | None = None) -> Path:
        mime, data = decode_data_url(url)
        target = self._target(mime, index, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.written.append(target)
        self._said(target)
        return target

    def _replace_files(self, value: Any, index: int | None = None, key: str | None = None) -> Any:
        """Write every data URL in `value` to disk and return `value` with paths in their place."""
        if is_data_url(value):
            return str(_display(self._write_file(value, index, key), self.directory))
        if isinstance(value, list):
            return [self._replace_files(v, i, key) for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            return {
                k: self._replace_files(v, index, str(k) if key is None else f"{key}.{k}")
                for k, v in value.items()
            }
        return value

    def _replace_single(self, value: Any) -> Any:
        if is_data_url(value):
            return str(_display(self._write_file(value), self.directory))
        if isinstance(value, list):
            return [self._replace_single(v) for v in value]
        if isinstance(value, Mapping):
            return {k: self._replace_single(v) for k, v in value.items()}
        return value

    def write(self, output: Any, output_schema: Mapping[str, Any] | None = None) -> None:
        """Print or write `output`; `output_schema` (the Output component) marks concatenated token lists."""
        if output is None:
            return
        if isinstance(output, str):
            if is_data_url(output):
                self._write_file(output)
            else:
                self._emit(output if output.endswith("\n") else output + "\n")
            return
        if (
            isinstance(output, list)
            and self.join_tokens
            and _is_concatenate(output_schema)
            and all(isinstance(v, str) for v in output)
        ):
            self._emit("".join(output) + "\n")
            return
        if isinstance(output, list) and output and all(is_data_url(v) for v in output):
            for i, item in enumerate(output):
                self._write_file(item, index=i)
            return
        files = _count_files(output)
        if files == 0:
            self._emit(json.dumps(output, indent=2) + "\n", ".json")
            return
        if files == 1:  # one file, wherever it sits, gets the plain name (-o or output.<ext>)
            replaced = self._replace_single(output)
        else:
            replaced = self._replace_files(output)
        self.stdout.write(json.dumps(replaced, indent=2) + "\n")

    def _emit(self, text: str, ext: str = ".txt") -> None:
        """Text output: to stdout, or into the -o file (or `output.txt` in the -o directory)."""
        if not self.text_to_file or (self.output_path is None and self.into is None):
            self.stdout.write(text)
            return
        if self.into is not None:
            target = self.into / f"{self.default_stem}{ext}"
        else:
            target = self.output_path if self.output_path.is_absolute() else self.directory / self.output_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        self.written.append(target)
        self._said(target)


def _count_files(value: Any) -> int:
    if is_data_url(value):
        return 1
    if isinstance(value, list):
        return sum(_count_files(v) for v in value)
    if isinstance(value, Mapping):
        return sum(_count_files(v) for v in value.values())
    return 0


def _is_concatenate(output_schema: Mapping[str, Any] | None) -> bool:
    return bool(output_schema) and output_schema.get("x-cog-array-display") == "concatenate"


def _display(path: Path, directory: Path) -> Path:
    try:
        return path.relative_to(directory)
    except ValueError:
        return path


def output_component(schema: Mapping[str, Any] | None, mode: str = "predict") -> dict[str, Any] | None:
    if not schema:
        return None
    components = schema.get("components", {}).get("schemas", {})
    node = components.get("TrainingOutput" if mode == "train" else "Output")
    return dict(node) if isinstance(node, Mapping) else None
