"""Builder addresses: which BuildKit to talk to, and how.

One parser so that `--builder`, `BUILDKIT_HOST` and `DOCKER_HOST` mean the same thing everywhere.
Precedence: an explicit address, then BUILDKIT_HOST, then DOCKER_HOST, then dockerd's default socket.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from typing import Literal

from cogkit.errors import CogkitError

DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"

_HINT = (
    "use unix:///path/to/buildkitd.sock, tcp://host:port (TLS via ?ca=&cert=&key=&servername=), "
    "docker:// (dockerd's socket) or docker:///path/to/docker.sock"
)


class AddressError(CogkitError):
    """A builder address that cannot be parsed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, _HINT)


@dataclass(frozen=True)
class TLSConfig:
    """Client TLS for tcp:// builders; every file is a PEM path."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    server_name: str | None = None

    def read(self) -> tuple[bytes | None, bytes | None, bytes | None]:
        """Load (ca, key, cert) bytes, with a clear error when a file is missing."""

        def load(path: str | None, what: str) -> bytes | None:
            if path is None:
                return None
            try:
                with open(path, "rb") as fh:
                    return fh.read()
            except OSError as exc:
                raise CogkitError(
                    f"cannot read TLS {what} {path}: {exc.strerror}",
                    "check the path given for the builder's TLS options",
                ) from None

        if (self.cert is None) != (self.key is None):
            raise CogkitError("TLS client cert and key must be given together", "pass both cert= and key=")
        return load(self.ca, "CA"), load(self.key, "key"), load(self.cert, "certificate")


@dataclass(frozen=True)
class BuilderAddress:
    """A parsed builder address.

    kind "docker": dockerd's embedded BuildKit, reached by HTTP upgrades on `path` (a unix socket)
    or on `host:port` (plain TCP). kind "unix"/"tcp": a standalone buildkitd speaking gRPC directly.
    """

    kind: Literal["docker", "unix", "tcp"]
    raw: str
    path: str | None = None
    host: str | None = None
    port: int | None = None
    tls: TLSConfig | None = None

    @property
    def is_docker(self) -> bool:
        return self.kind == "docker"

    def describe(self) -> str:
        """The address as a user would write it, for error messages."""
        if self.kind == "docker":
            where = f"unix://{self.path}" if self.path else f"tcp://{self.host}:{self.port}"
            return f"dockerd at {where}"
        if self.kind == "unix":
            return f"buildkitd at unix://{self.path}"
        return f"buildkitd at tcp://{self.host}:{self.port}" + (" (TLS)" if self.tls else "")


def _host_port(netloc: str, raw: str) -> tuple[str, int]:
    try:
        parsed = urllib.parse.urlsplit("//" + netloc)
        host, port = parsed.hostname, parsed.port
    except ValueError:
        raise AddressError(f"malformed builder address {raw!r}: bad port") from None
    if not host or port is None:
        raise AddressError(f"malformed builder address {raw!r}: expected host:port")
    return host, port


def _tls_from_query(query: str, raw: str, tls: TLSConfig | None) -> TLSConfig | None:
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    known = {"ca", "cert", "key", "servername"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise AddressError(f"unknown option {unknown[0]!r} in builder address {raw!r}")
    if not params:
        return tls
    first = {k: v[-1] for k, v in params.items()}
    base = tls or TLSConfig()
    return TLSConfig(
        ca=first.get("ca", base.ca),
        cert=first.get("cert", base.cert),
        key=first.get("key", base.key),
        server_name=first.get("servername", base.server_name),
    )


def parse_address(raw: str, tls: TLSConfig | None = None) -> BuilderAddress:
    """Parse one address string; raise AddressError (one line + hint) when it is malformed."""
    text = raw.strip()
    if "://" not in text:
        raise AddressError(f"malformed builder address {raw!r}: missing scheme")
    scheme, rest = text.split("://", 1)
    scheme = scheme.lower()
    if scheme == "unix":
        path, _, query = rest.partition("?")
        if query:
            raise AddressError(f"unix builder address {raw!r} takes no options")
        if not path.startswith("/"):
            raise AddressError(f"malformed builder address {raw!r}: unix socket path must be absolute")
        return BuilderAddress(kind="unix", raw=raw, path=path, tls=tls)
    if scheme == "tcp":
        netloc, _, query = rest.partition("?")
        netloc = netloc.rstrip("/")
        host, port = _host_port(netloc, raw)
        return BuilderAddress(kind="tcp", raw=raw, host=host, port=port, tls=_tls_from_query(query, raw, tls))
    if scheme == "docker":
        path = rest or DEFAULT_DOCKER_SOCKET
        if not path.startswith("/"):
            raise AddressError(f"malformed builder address {raw!r}: docker socket path must be absolute")
        return BuilderAddress(kind="docker", raw=raw, path=path)
    raise AddressError(f"unsupported builder address scheme {scheme!r} in {raw!r}")


def docker_host_address(docker_host: str) -> BuilderAddress:
    """Interpret DOCKER_HOST (unix:// or plain tcp://) as dockerd's embedded BuildKit."""
    text = docker_host.strip()
    if text.startswith("unix://"):
        path = text[len("unix://") :]
        if not path.startswith("/"):
            raise AddressError(f"malformed DOCKER_HOST {docker_host!r}: unix socket path must be absolute")
        return BuilderAddress(kind="docker", raw=docker_host, path=path)
    if text.startswith("tcp://"):
        host, port = _host_port(text[len("tcp://") :].rstrip("/"), docker_host)
        return BuilderAddress(kind="docker", raw=docker_host, host=host, port=port)
    raise AddressError(f"unsupported DOCKER_HOST {docker_host!r}")


def resolve_address(
    explicit: str | None = None, tls: TLSConfig | None = None, environ: dict[str, str] | None = None
) -> BuilderAddress:
    """Pick the builder: explicit (--builder) > BUILDKIT_HOST > DOCKER_HOST > docker default."""
    env = os.environ if environ is None else environ
    if explicit:
        return parse_address(explicit, tls)
    if env.get("BUILDKIT_HOST"):
        return parse_address(env["BUILDKIT_HOST"], tls)
    if env.get("DOCKER_HOST"):
        return docker_host_address(env["DOCKER_HOST"])
    return BuilderAddress(kind="docker", raw=f"docker://{DEFAULT_DOCKER_SOCKET}", path=DEFAULT_DOCKER_SOCKET)
