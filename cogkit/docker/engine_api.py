"""The few Docker Engine API calls whose progress the CLI hides: push, pull (create) and load.

`docker push/pull/load` print byte counts only on a TTY, and cogkit runs them captured, so they
showed nothing for gigabytes. The engine streams the same progress as JSON lines over its API;
these calls read that stream directly (stdlib http.client over the unix socket or plain tcp).
Other DOCKER_HOST schemes (ssh://, TLS) are not spoken here: `supported()` says so and callers use
the docker CLI as before.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
from collections.abc import Iterator
from typing import IO, Any
from urllib.parse import quote, urlencode, urlsplit

DEFAULT_HOST = "unix:///var/run/docker.sock"


class EngineAPIError(Exception):
    """The engine refused the call or reported an error in its progress stream."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def _host() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def supported() -> bool:
    """True when DOCKER_HOST is a unix socket or plain tcp without TLS (the CLI handles the rest)."""
    parts = urlsplit(_host())
    if parts.scheme == "unix":
        return True
    return parts.scheme == "tcp" and not os.environ.get("DOCKER_TLS_VERIFY") and not os.environ.get(
        "DOCKER_CERT_PATH")


def _connection(timeout: float | None) -> http.client.HTTPConnection:
    parts = urlsplit(_host())
    if parts.scheme == "unix":
        return _UnixConnection(parts.path, timeout)
    return http.client.HTTPConnection(parts.hostname or "localhost", parts.port or 2375, timeout=timeout)


def registry_auth(username: str = "", password: str = "", server: str = "") -> str:
    """The X-Registry-Auth header value (base64url JSON; `{}` when anonymous, which push still needs)."""
    body: dict[str, str] = {}
    if username or password:
        body = {"username": username, "password": password, "serveraddress": server}
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


def stream(method: str, path: str, params: dict[str, str] | None = None,
           headers: dict[str, str] | None = None, body: IO[bytes] | None = None,
           timeout: float | None = None) -> Iterator[dict[str, Any]]:
    """Call the engine and yield its progress messages; an error message raises EngineAPIError."""
    conn = _connection(timeout)
    url = path + ("?" + urlencode(params) if params else "")
    try:
        hdrs = dict(headers or {})
        if body is not None:
            hdrs.setdefault("Content-Type", "application/x-tar")
            conn.putrequest(method, url)
            for k, v in hdrs.items():
                conn.putheader(k, v)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            while chunk := body.read(1 << 20):
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        else:
            conn.request(method, url, headers=hdrs)
        resp = conn.getresponse()
        if resp.status >= 400:
            raw = resp.read().decode(errors="replace")
            try:
                message = json.loads(raw).get("message") or raw
            except ValueError:
                message = raw
            raise EngineAPIError(message.strip() or f"HTTP {resp.status}")
        for line in resp:
            line = line.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("error") or msg.get("errorDetail"):
                raise EngineAPIError(str(msg.get("error") or msg["errorDetail"].get("message")))
            yield msg
    finally:
        conn.close()


def split_reference(ref: str) -> tuple[str, str]:
    """`host:5000/a/b:tag` → (`host:5000/a/b`, `tag`); a digest reference keeps its digest as the tag."""
    if "@" in ref:
        name, _, digest = ref.partition("@")
        return name, digest
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = ref.rpartition(":")
        return name, tag
    return ref, "latest"


def push(ref: str, auth: str) -> Iterator[dict[str, Any]]:
    name, tag = split_reference(ref)
    return stream("POST", f"/images/{quote(name, safe='/:')}/push", {"tag": tag},
                  {"X-Registry-Auth": auth})


def pull(ref: str, auth: str) -> Iterator[dict[str, Any]]:
    name, tag = split_reference(ref)
    return stream("POST", "/images/create", {"fromImage": name, "tag": tag}, {"X-Registry-Auth": auth})


def load(tarball: IO[bytes]) -> Iterator[dict[str, Any]]:
    return stream("POST", "/images/load", {"quiet": "0"}, body=tarball)
