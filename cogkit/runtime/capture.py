"""File-descriptor-level capture of the child's stdout/stderr.

fds 1 and 2 are dup2'd onto pipes, so output from print(), C extensions and subprocesses alike
is captured. A reader thread forwards it as log frames; before a prediction reports Done the
main thread drains the pipes itself (under the same lock), which orders every byte written
during the prediction before its result without a round trip.

Frames carry whole lines, as Cog's do: with PYTHONUNBUFFERED (set in every image) print() is
two writes, the text and its "\n", and a read between them would otherwise split one line into
two log events. A line's unfinished end waits for the rest, at most PARTIAL_LINE_WAIT seconds
(a prompt without a newline still shows), or MAX_PARTIAL_LINE characters, or the next drain.
"""

from __future__ import annotations

import codecs
import contextvars
import io
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from cogkit.runtime import ipc

Sink = Callable[[str, str], None]  # (text, source)

PARTIAL_LINE_WAIT = 0.05  # seconds an unfinished line waits for its end before it is sent alone
MAX_PARTIAL_LINE = 8192  # characters of an unfinished line held back at most


def split_lines(text: str) -> tuple[str, str]:
    """(the complete lines, the unfinished end); progress bars end their lines with "\r"."""
    cut = max(text.rfind("\n"), text.rfind("\r")) + 1
    if cut == 0 and len(text) >= MAX_PARTIAL_LINE:
        cut = len(text)
    return text[:cut], text[cut:]


class OutputCapture:
    """Owns the stdout/stderr pipes of this process and forwards what arrives to `sink`."""

    def __init__(self, sink: Sink, pipes: dict[str, tuple[int, int]] | None = None) -> None:
        """`pipes` maps "stdout"/"stderr" to (read_fd, write_fd); the worker creates them so it
        can keep a copy of the read ends and recover the last words of a child that died."""
        self._sink = sink
        self._lock = threading.Lock()
        self._fds: dict[int, str] = {}
        self._decoders = {}
        self._partial: dict[int, str] = {}  # read fd -> the unfinished line read so far
        self._partial_since: dict[int, float] = {}  # read fd -> when that line's first piece came
        self.original_stderr_fd = os.dup(2)
        for target, source in ((1, "stdout"), (2, "stderr")):
            read_fd, write_fd = pipes[source] if pipes else os.pipe()
            os.set_inheritable(read_fd, False)
            os.dup2(write_fd, target)
            os.close(write_fd)
            os.set_blocking(read_fd, False)
            self._fds[read_fd] = source
            self._decoders[read_fd] = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # Python-level streams now write through the pipes; line buffering keeps logs flowing.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
            except (AttributeError, ValueError):
                pass
        self._thread = threading.Thread(target=self._pump, name="cogkit-log-pump", daemon=True)
        self._thread.start()

    def _read_available(self, fd: int) -> bool:
        """Forward whatever fd holds right now; False on EOF. Caller holds the lock."""
        while True:
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not data:
                return False
            text = self._partial.get(fd, "") + self._decoders[fd].decode(data)
            lines, rest = split_lines(text)
            if rest and (lines or not self._partial.get(fd)):
                self._partial_since[fd] = time.monotonic()  # a new unfinished line starts
            self._partial[fd] = rest
            if lines:
                self._sink(lines, self._fds[fd])
            if len(data) < 1 << 16:
                return True

    def _send_partial(self) -> None:
        """Send every unfinished line as it is. Caller holds the lock."""
        for fd, rest in self._partial.items():
            if rest:
                self._partial[fd] = ""
                self._sink(rest, self._fds[fd])

    def _pump(self) -> None:
        poller = select.poll()
        for fd in self._fds:
            poller.register(fd, select.POLLIN)
        open_fds = len(self._fds)
        timeout: float | None = None  # ms until the oldest unfinished line stops waiting for its end
        while open_fds:
            ready = poller.poll(timeout)
            with self._lock:
                for fd, _event in ready:
                    if not self._read_available(fd):
                        poller.unregister(fd)
                        open_fds -= 1
                waiting = [self._partial_since[fd] for fd, rest in self._partial.items() if rest]
                timeout = None
                if waiting:
                    timeout = (min(waiting) + PARTIAL_LINE_WAIT - time.monotonic()) * 1000
                    if timeout <= 0 or not open_fds:
                        self._send_partial()  # nothing came to finish the line: it goes out as it is
                        timeout = None

    def drain(self) -> None:
        """Forward everything written so far (after flushing Python's own buffers)."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        with self._lock:
            for fd in self._fds:
                self._read_available(fd)
            self._send_partial()


class RoutedStream(io.TextIOBase):
    """sys.stdout/err replacement for concurrent async predictions: attributes each line to the
    prediction whose task wrote it (`owner` ContextVar), since fd-level writes from several tasks
    cannot be told apart. Writes outside a prediction go to the real stream (fd level)."""

    def __init__(self, send: Callable[[Any], None], owner: contextvars.ContextVar[str | None], source: str,
                 underlying: Any) -> None:
        self._send = send
        self._owner = owner
        self._source = source
        self._underlying = underlying
        self._pending: dict[str, str] = {}

    def write(self, text: str) -> int:
        owner = self._owner.get()
        if owner is None:
            return self._underlying.write(text)
        buffered = self._pending.get(owner, "") + text
        cut = max(buffered.rfind("\n"), buffered.rfind("\r")) + 1  # progress bars end lines with \r
        if cut == 0 and len(buffered) > 8192:
            cut = len(buffered)
        if cut:
            self._send(ipc.LogFrame(owner, buffered[:cut], self._source))
        self._pending[owner] = buffered[cut:]
        return len(text)

    def flush_owner(self, owner: str) -> None:
        """Send what `owner` wrote after its last line break (called when its prediction ends)."""
        rest = self._pending.pop(owner, "")
        if rest:
            self._send(ipc.LogFrame(owner, rest, self._source))

    def flush(self) -> None:
        self._underlying.flush()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._underlying.fileno()

    def __getattr__(self, name: str) -> Any:
        # .buffer, .errors, .reconfigure ...: the real stream (fd-level, attributed when unambiguous)
        return getattr(self._underlying, name)
