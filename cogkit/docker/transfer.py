"""Push, pull and load with progress: layers, bytes and rate, as buildx shows them.

The engine's progress stream (cogkit.docker.engine_api) is folded into one state per layer and
drawn by `TransferProgress`: on a TTY a block of lines redrawn in place (one per active layer and a
summary with the rate); in plain mode a line per finished layer and a summary every few seconds, so
CI logs show a long push moving without drowning in updates; quiet prints nothing.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from cogkit.docker import engine_api
from cogkit.errors import CogkitError

PLAIN_INTERVAL = 5.0  # seconds between summary lines in plain mode
TTY_INTERVAL = 0.1
TTY_LAYERS = 8  # active layers shown at once on a TTY
# Statuses whose progressDetail counts the bytes moved (vs. Extracting, which re-reads them locally).
_MOVING = {"Pushing", "Downloading", "Loading layer"}
_DONE = {"Pushed", "Layer already exists", "Pull complete", "Already exists"}


class TransferError(CogkitError):
    """A push, pull or load the engine reported as failed."""


def available() -> bool:
    return engine_api.supported()


def human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


@dataclass
class Layer:
    id: str
    status: str = ""
    current: int = 0
    total: int = 0
    done: bool = False


def resolve_mode(progress: str | None, out: TextIO) -> str:
    mode = progress or "auto"
    if mode == "auto":
        isatty = getattr(out, "isatty", None)
        mode = "tty" if isatty is not None and isatty() and not os.environ.get("NO_COLOR") else "plain"
    return mode


class TransferProgress:
    """Folds engine progress messages into per-layer state and renders it (see the module doc)."""

    def __init__(self, verb: str, ref: str, progress: str | None = "auto", out: TextIO | None = None,
                 clock: Any = time.monotonic, plain_interval: float = PLAIN_INTERVAL) -> None:
        self.verb, self.ref = verb, ref
        self.out = out or sys.stderr
        self.mode = resolve_mode(progress, self.out)
        self.clock = clock
        self.plain_interval = plain_interval
        self.layers: dict[str, Layer] = {}
        self.started = clock()
        self._samples: deque[tuple[float, int]] = deque([(self.started, 0)])
        self._last_draw = 0.0
        self._last_plain = self.started
        self._drawn_lines = 0
        self.messages: list[str] = []  # layer-less status lines (digests, "Loaded image: …")

    # -- state ---------------------------------------------------------------------------
    @property
    def moved(self) -> int:
        return sum(layer.current for layer in self.layers.values())

    @property
    def total(self) -> int:
        return sum(layer.total for layer in self.layers.values())

    def rate(self) -> float:
        now, moved = self.clock(), self.moved
        self._samples.append((now, moved))
        while len(self._samples) > 2 and now - self._samples[0][0] > 3.0:
            self._samples.popleft()
        t0, b0 = self._samples[0]
        return (moved - b0) / (now - t0) if now > t0 else 0.0

    def feed(self, msg: dict[str, Any]) -> None:
        status = str(msg.get("status") or "")
        layer_id = msg.get("id")
        if "stream" in msg and str(msg["stream"]).strip():
            self.messages.append(str(msg["stream"]).strip())
        if not layer_id or not status or status.startswith(("The push refers", "Pulling from")):
            if status:
                self.messages.append(status)
            return
        layer = self.layers.setdefault(layer_id, Layer(layer_id))
        finished_before = layer.done
        layer.status = status
        detail = msg.get("progressDetail") or {}
        if status in _MOVING and detail.get("total"):
            layer.current, layer.total = int(detail.get("current") or 0), int(detail["total"])
            if status == "Loading layer" and layer.current >= layer.total:
                layer.done = True
        if status in _DONE or status.startswith("Mounted from"):
            layer.done = True
            if layer.total:
                layer.current = layer.total
        if layer.done and not finished_before and self.mode == "plain":
            size = f" ({human(layer.total)})" if layer.total else ""
            self._print(f"{layer.id}: {layer.status}{size}")
        self._render()

    # -- rendering -----------------------------------------------------------------------
    def summary(self, rate: float | None = None) -> str:
        done = sum(1 for layer in self.layers.values() if layer.done)
        parts = [f"{self.verb} {self.ref}: {done}/{len(self.layers)} layers"]
        if self.total:
            parts.append(f"{human(self.moved)} of {human(self.total)}")
        if rate is not None:
            parts.append(f"{human(rate)}/s")
        return ", ".join(parts)

    def _print(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def _render(self, force: bool = False) -> None:
        if self.mode == "quiet":
            return
        now = self.clock()
        if self.mode == "plain":
            if force or now - self._last_plain >= self.plain_interval:
                self._last_plain = now
                self._print(self.summary(self.rate()))
            return
        if not force and now - self._last_draw < TTY_INTERVAL:
            return
        self._last_draw = now
        active = [layer for layer in self.layers.values() if not layer.done][:TTY_LAYERS]
        lines = [self.summary(self.rate())]
        for layer in active:
            size = f"  {human(layer.current)} / {human(layer.total)}" if layer.total else ""
            lines.append(f"  {layer.id[:12]}  {layer.status}{size}")
        # up over the block drawn last time (or clear a spinner's half-drawn line), then redraw
        text = "\x1b[1A\x1b[2K" * self._drawn_lines if self._drawn_lines else "\r\x1b[2K"
        self.out.write(text + "\n".join(lines) + "\n")
        self.out.flush()
        self._drawn_lines = len(lines)

    def finish(self) -> None:
        if self.mode == "quiet":
            return
        elapsed = max(self.clock() - self.started, 1e-9)
        line = f"{self.summary()} in {elapsed:.1f}s"
        if self.moved:
            line += f" ({human(self.moved / elapsed)}/s)"
        if self.mode == "tty" and self._drawn_lines:
            self.out.write("\x1b[1A\x1b[2K" * self._drawn_lines)
        self._print(line)

    def run(self, messages: Iterable[dict[str, Any]]) -> list[str]:
        for msg in messages:
            self.feed(msg)
        self.finish()
        return self.messages


def _auth_for(ref: str) -> str:
    from cogkit.docker.credentials import normalize_registry, read_credentials

    first = ref.split("/", 1)[0]
    registry = first if ("." in first or ":" in first or first == "localhost") and "/" in ref else "docker.io"
    creds = read_credentials(registry)
    if creds is None:
        return engine_api.registry_auth()
    return engine_api.registry_auth(creds.username, creds.password, normalize_registry(registry))


def _guarded(messages: Iterator[dict[str, Any]], what: str) -> Iterator[dict[str, Any]]:
    try:
        yield from messages
    except engine_api.EngineAPIError as exc:
        raise TransferError(f"{what} failed: {exc}") from None
    except OSError as exc:
        raise TransferError(f"{what} failed: cannot reach the engine ({exc})",
                            "start Docker (`sudo systemctl start docker`), or set DOCKER_HOST") from None


def push_image(ref: str, progress: str | None = "auto", out: TextIO | None = None) -> str | None:
    """Push `ref` with progress; returns the pushed manifest digest."""
    shown = TransferProgress("pushing", ref, progress, out)
    digest = None
    for msg in _guarded(engine_api.push(ref, _auth_for(ref)), f"push of {ref}"):
        aux = msg.get("aux") or {}
        # dockerd's classic store sends an aux Digest; with the containerd image store (Docker 28+) only
        # the closing status line carries it: "<tag>: digest: sha256:… size: N".
        digest = aux.get("Digest") or _status_digest(msg.get("status")) or digest
        shown.feed(msg)
    shown.finish()
    return digest


def _status_digest(status: object) -> str | None:
    if not isinstance(status, str) or ": digest: " not in status:
        return None
    found = status.split(": digest: ", 1)[1].split()
    return found[0] if found and found[0].startswith("sha256:") else None


def pull_image(ref: str, progress: str | None = "auto", out: TextIO | None = None) -> None:
    TransferProgress("pulling", ref, progress, out).run(_guarded(engine_api.pull(ref, _auth_for(ref)),
                                                                  f"pull of {ref}"))


def load_tarball(path: str, progress: str | None = "auto", out: TextIO | None = None) -> list[str]:
    """Load a docker-archive tarball; returns the engine's "Loaded image: …" lines."""
    with open(path, "rb") as fh:
        shown = TransferProgress("loading", os.path.basename(path), progress, out)
        messages = shown.run(_guarded(engine_api.load(fh), f"loading {path}"))
    return [m for m in messages if m.startswith("Loaded image")]
