"""File-descriptor-level capture of the child's stdout/stderr.

fds 1 and 2 are dup2'd onto pipes, so output from print(), C extensions and subprocesses alike
is captured. A reader thread forwards it as log frames; before a prediction reports Done the
main thread drains the pipes itself (under the same lock), which orders every byte written
during the prediction before its result without a round trip.
"""

from __future__ import annotations

import codecs
import contextvars
import io
import os
import select
import sys
import threading
from collections.abc import Callable
from typing import Any

from cogkit.runtime import ipc

Sink = Callable[[str, str], None]  # (text, source)


class OutputCapture:
    """Owns the stdout/stderr pipes of this process and forwards what arrives to `sink`."""

    def __init__(self, sink: Sink, pipes: dict[str, tuple[int, int]] | None = None) -> None:
        """`pipes` maps "stdout"/"stderr" to (read_fd, write_fd); the worker creates them so it
        can keep a copy of the read ends and recover the last words of a child that died."""
        self._sink = sink
        self._lock = threading.Lock()
        self._fds: dict[int, str] = {}
        self._decoders = {}
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
            text = self._decoders[fd].decode(data)
            if text:
                self._sink(text, self._fds[fd])
            if len(data) < 1 << 16:
                return True

    def _pump(self) -> None:
        poller = select.poll()
        for fd in self._fds:
            poller.register(fd, select.POLLIN)
        while True:
            for fd, _event in poller.poll():
                with self._lock:
                    if not self._read_available(fd):
                        poller.unregister(fd)

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
