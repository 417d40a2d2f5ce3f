"""connect() in a background thread: the engine answers while the caller does other work.

A code-edit rebuild spends most of its ~0.6 s in the client; the CLI starts connecting (socket,
dockerd's /grpc upgrade, HTTP/2 handshake, ListWorkers) before it imports and runs the config
loader and the planner, so those round trips overlap them. Errors are raised where the caller asks
for the client, in the order the build checks things (config mistakes first, then the engine).
"""

from __future__ import annotations

import threading

from cogkit.buildkit.address import TLSConfig
from cogkit.buildkit.client import Client, connect


class PendingConnection:
    """A connect() under way; result() waits for it and hands the Client over (or raises)."""

    def __init__(self, address: str | None = None, tls: TLSConfig | None = None) -> None:
        self._client: Client | None = None
        self._error: BaseException | None = None
        self._taken = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._connect, args=(address, tls), name="cogkit-connect", daemon=True
        )
        self._thread.start()

    def _connect(self, address: str | None, tls: TLSConfig | None) -> None:
        try:
            self._client = connect(address, tls)
        except BaseException as exc:  # noqa: BLE001 - raised again by result() in the caller's thread
            self._error = exc

    def result(self) -> Client:
        """The connected client, now the caller's to close; the connection's error otherwise."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._client is not None
        with self._lock:
            self._taken = True
        return self._client

    def discard(self) -> None:
        """Close the client if nobody took it (the build stopped before it needed the engine)."""
        with self._lock:
            if self._taken:
                return
            self._taken = True

        def close() -> None:
            self._thread.join()
            if self._client is not None:
                self._client.close()

        threading.Thread(target=close, name="cogkit-close", daemon=True).start()
