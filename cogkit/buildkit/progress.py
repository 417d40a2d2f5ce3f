"""Build progress from BuildKit's Status stream: a live TTY view, buildx-style plain lines, or quiet.

The tracker keeps every vertex's timing, cache state and log tail, so a failed build can be
explained (step name, command, exit code, last log lines) after the stream has ended.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, TextIO

from cogkit.buildkit.pb import control_pb2

ProgressMode = Literal["auto", "tty", "plain", "quiet"]

LOG_TAIL_LINES = 30
_EXIT_CODE = re.compile(r"exit code: (\d+)")


def _ts(stamp: object) -> float | None:
    if stamp is None or not getattr(stamp, "seconds", 0) and not getattr(stamp, "nanos", 0):
        return None
    return stamp.seconds + stamp.nanos / 1e9  # type: ignore[attr-defined]


@dataclass
class VertexInfo:
    """What the engine told us about one vertex."""

    digest: str
    name: str
    number: int
    cached: bool = False
    started: float | None = None
    completed: float | None = None
    error: str = ""
    log_lines: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_TAIL_LINES))
    partial_line: str = ""
    statuses: dict[str, tuple[str, int, int, bool]] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        end = self.completed if self.completed is not None else time.time()
        return max(0.0, end - self.started)

    @property
    def running(self) -> bool:
        return self.started is not None and self.completed is None

    @property
    def exit_code(self) -> int | None:
        match = _EXIT_CODE.search(self.error)
        return int(match.group(1)) if match else None

    def add_log(self, data: bytes) -> list[str]:
        """Append raw log bytes; return the complete lines they finished."""
        text = self.partial_line + data.decode("utf-8", "replace").replace("\r\n", "\n")
        *lines, self.partial_line = text.split("\n")
        for line in lines:
            self.log_lines.append(line.rsplit("\r", 1)[-1])
        return lines

    def log_tail(self, n: int = LOG_TAIL_LINES) -> list[str]:
        tail = list(self.log_lines)
        if self.partial_line:
            tail.append(self.partial_line)
        return tail[-n:]


class ProgressTracker:
    """Folds StatusResponse messages into per-vertex state; renderers observe it."""

    def __init__(self) -> None:
        self.vertices: dict[str, VertexInfo] = {}
        self.started_at = time.time()
        self.lock = threading.Lock()

    def update(self, response: control_pb2.StatusResponse) -> list[tuple[str, VertexInfo, str]]:
        """Apply one message; return events (kind, vertex, text) for line-oriented renderers."""
        events: list[tuple[str, VertexInfo, str]] = []
        with self.lock:
            for v in response.vertexes:
                info = self.vertices.get(v.digest)
                if info is None:
                    info = VertexInfo(digest=v.digest, name=v.name, number=len(self.vertices) + 1)
                    self.vertices[v.digest] = info
                was_started, was_done = info.started is not None, info.completed is not None
                info.name = v.name or info.name
                info.cached = info.cached or v.cached
                info.started = _ts(v.started) if v.HasField("started") else info.started
                info.completed = _ts(v.completed) if v.HasField("completed") else info.completed
                info.error = v.error or info.error
                if info.started is not None and not was_started:
                    events.append(("start", info, ""))
                if info.completed is not None and not was_done:
                    events.append(("error" if info.error else "cached" if info.cached else "done", info, ""))
            for s in response.statuses:
                info = self.vertices.get(s.vertex)
                if info is not None:
                    info.statuses[s.ID] = (s.name or s.ID, s.current, s.total, s.HasField("completed"))
            for log in response.logs:
                info = self.vertices.get(log.vertex)
                if info is None:
                    continue
                for line in info.add_log(log.msg):
                    events.append(("log", info, line))
        return events

    def note(
        self, key: str, name: str, *, started: float | None = None, completed: float | None = None
    ) -> list[tuple[str, VertexInfo, str]]:
        """Record a step of the client's own (not a daemon vertex) so displays show it like one."""
        with self.lock:
            info = self.vertices.get(key)
            if info is None:
                info = VertexInfo(digest=key, name=name, number=len(self.vertices) + 1)
                self.vertices[key] = info
            events: list[tuple[str, VertexInfo, str]] = []
            if started is not None and info.started is None:
                info.started = started
                events.append(("start", info, ""))
            if completed is not None and info.completed is None:
                info.completed = completed
                events.append(("done", info, ""))
        return events

    def ordered(self) -> list[VertexInfo]:
        with self.lock:
            return sorted(self.vertices.values(), key=lambda v: v.number)

    def failed(self, detail: str = "") -> VertexInfo | None:
        """The vertex that failed the build. Newer BuildKits (v0.25 in dockerd 28.5) cancel the steps
        running beside it, which then report errors too (exit code 137, "process is already dead"):
        the one whose error the solve reports (`detail`) wins, else the first to have failed."""
        errored = [info for info in self.ordered() if info.error]
        for info in errored:
            if detail and info.error.strip() and info.error.strip() in detail:
                return info
        return min(errored, key=lambda v: v.completed or float("inf"), default=None)


class Display:
    """Renderer interface: update after each message, finish once at the end."""

    def __init__(self, tracker: ProgressTracker, out: TextIO) -> None:
        self.tracker = tracker
        self.out = out

    def handle(self, events: list[tuple[str, VertexInfo, str]]) -> None:  # noqa: B027 - optional hook
        pass

    def finish(self) -> None:  # noqa: B027 - optional hook
        pass


class QuietDisplay(Display):
    """No output: for scripts that only want the result."""


class PlainDisplay(Display):
    """buildx --progress=plain: one numbered line per event, safe for CI logs."""

    def handle(self, events: list[tuple[str, VertexInfo, str]]) -> None:
        now = time.time()
        lines = []
        for kind, v, text in events:
            if kind == "start":
                lines.append(f"#{v.number} {v.name}")
            elif kind == "log":
                offset = now - (v.started or now)
                lines.append(f"#{v.number} {offset:.3f} {text}")
            elif kind == "cached":
                lines.append(f"#{v.number} CACHED")
            elif kind == "done":
                lines.append(f"#{v.number} DONE {v.duration or 0:.1f}s")
            elif kind == "error":
                lines.append(f"#{v.number} ERROR: {v.error}")
        if lines:
            self.out.write("\n".join(lines) + "\n")
            self.out.flush()


class TtyDisplay(Display):
    """A live view redrawn in place: steps with timers, CACHED marks, log tails of running steps."""

    REFRESH = 0.1
    RUNNING_LOG_LINES = 6

    def __init__(self, tracker: ProgressTracker, out: TextIO) -> None:
        super().__init__(tracker, out)
        self._drawn = 0
        self._stop = threading.Event()
        self._paint_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="progress-tty", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.REFRESH):
            self._paint(final=False)

    def _render(self, final: bool) -> list[str]:
        width = max(40, shutil.get_terminal_size((100, 24)).columns)
        vertices = self.tracker.ordered()
        done = sum(1 for v in vertices if v.completed is not None)
        elapsed = time.time() - self.tracker.started_at
        state = "Finished" if final else "Building"
        lines = [f"[+] {state} {elapsed:.1f}s ({done}/{len(vertices)})"]
        for v in vertices:
            if v.started is None and not v.cached:
                continue
            mark = " CACHED" if v.cached else " ERROR" if v.error else ""
            timer = f"{v.duration:.1f}s" if v.duration is not None else ""
            label = f" => {v.name}{mark}"
            room = width - len(timer) - 1
            if len(label) > room:
                label = label[: max(0, room - 1)] + "…"
            lines.append(label.ljust(room) + " " + timer)
            if v.running and not final:
                for log in v.log_tail(self.RUNNING_LOG_LINES):
                    lines.append(("    " + log)[: width - 1])
        return lines

    def _paint(self, final: bool) -> None:
        with self._paint_lock:
            lines = self._render(final)
            buf = []
            if self._drawn:
                buf.append(f"\x1b[{self._drawn}F")
            for line in lines:
                buf.append("\x1b[2K" + line + "\n")
            extra = self._drawn - len(lines)
            for _ in range(max(0, extra)):
                buf.append("\x1b[2K\n")
            if extra > 0:
                buf.append(f"\x1b[{extra}F")
            self._drawn = len(lines)
            self.out.write("".join(buf))
            self.out.flush()

    def finish(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self._paint(final=True)


def make_display(mode: ProgressMode, tracker: ProgressTracker, out: TextIO | None = None) -> Display:
    """auto = tty on a terminal, plain otherwise (and plain when TERM=dumb)."""
    stream = out if out is not None else sys.stderr
    if mode == "quiet":
        return QuietDisplay(tracker, stream)
    if mode == "auto":
        is_tty = hasattr(stream, "isatty") and stream.isatty() and os.environ.get("TERM") != "dumb"
        mode = "tty" if is_tty else "plain"
    if mode == "tty":
        return TtyDisplay(tracker, stream)
    if mode == "plain":
        return PlainDisplay(tracker, stream)
    raise ValueError(f"unknown progress mode {mode!r}")
