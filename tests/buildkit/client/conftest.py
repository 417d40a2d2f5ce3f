"""Fixtures that make dockerd's real BuildKit look like a standalone buildkitd.

No buildkitd binary can be installed here, so:
- `standalone_unix`: a unix socket that speaks plain gRPC; each connection is spliced onto a fresh
  `POST /grpc` upgrade on dockerd (written independently of cogkit's own proxy, on asyncio);
- `standalone_tls`: a TLS terminator (self-signed CA, server + client certs, ALPN h2) on
  127.0.0.1 in front of that socket.
The client then takes its standalone code path: a direct gRPC channel and Control.Session.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from buildkit_client_helpers import docker
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cogkit.buildkit.address import TLSConfig
from cogkit.buildkit.client import Client, connect


class LoopThread:
    """An asyncio loop on a background thread, so sync tests can host async servers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[object]) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)  # type: ignore[arg-type]

    def stop(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 20):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
        except (OSError, RuntimeError):
            pass


async def _splice(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    connect: Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]],
) -> None:
    try:
        up_reader, up_writer = await connect()
    except (OSError, ConnectionError):
        client_writer.close()
        return
    await asyncio.gather(_copy(client_reader, up_writer), _copy(up_reader, client_writer))
    for w in (client_writer, up_writer):
        w.close()


def _docker_grpc_connector(
    docker_sock: str,
) -> Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]:
    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_unix_connection(docker_sock)
        writer.write(b"POST /grpc HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")  # later bytes stay buffered in the reader
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head[:100].decode(errors="replace"))
        return reader, writer

    return connect


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


@pytest.fixture(scope="session")
def standalone_unix(
    docker_engine: str, loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`unix:///...buildkitd.sock` reaching dockerd's BuildKit with plain gRPC."""
    path = str(tmp_path_factory.mktemp("buildkitd") / "buildkitd.sock")
    connect = _docker_grpc_connector(docker_engine)

    async def start() -> asyncio.AbstractServer:
        return await asyncio.start_unix_server(lambda r, w: _splice(r, w, connect), path=path)

    server = loop_thread.run(start())
    yield f"unix://{path}"
    loop_thread.loop.call_soon_threadsafe(server.close)  # type: ignore[attr-defined]


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer if issuer else (name, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("buildkitd.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write_pem(path: Path, obj: x509.Certificate | ec.EllipticCurvePrivateKey) -> str:
    if isinstance(obj, x509.Certificate):
        path.write_bytes(obj.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(
            obj.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return str(path)


@pytest.fixture(scope="session")
def standalone_tls(
    standalone_unix: str, loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, TLSConfig]]:
    """`tcp://127.0.0.1:PORT` behind mutual TLS (self-signed CA), and the client's TLS config."""
    d = tmp_path_factory.mktemp("tls")
    ca_key, srv_key, cli_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _cert("cogkit test CA", ca_key, None, ca=True)
    srv = _cert("buildkitd.test", srv_key, (ca.subject, ca_key), server=True)
    cli = _cert("cogkit client", cli_key, (ca.subject, ca_key))
    tls = TLSConfig(
        ca=_write_pem(d / "ca.pem", ca),
        cert=_write_pem(d / "client.pem", cli),
        key=_write_pem(d / "client-key.pem", cli_key),
        server_name="buildkitd.test",
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tls.ca)
    ctx.load_cert_chain(_write_pem(d / "server.pem", srv), _write_pem(d / "server-key.pem", srv_key))
    ctx.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: the client must present its cert
    ctx.set_alpn_protocols(["h2"])  # gRPC refuses a TLS peer that does not select h2
    unix_path = standalone_unix.removeprefix("unix://")

    async def upstream() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_unix_connection(unix_path)

    async def start() -> asyncio.AbstractServer:
        return await asyncio.start_server(lambda r, w: _splice(r, w, upstream), "127.0.0.1", 0, ssl=ctx)

    server = loop_thread.run(start())
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    yield f"tcp://127.0.0.1:{port}", tls
    loop_thread.loop.call_soon_threadsafe(server.close)  # type: ignore[attr-defined]


@pytest.fixture
def image_tag(request: pytest.FixtureRequest) -> Iterator[str]:
    """A unique tag for this test's image; removed afterwards."""
    slug = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    tag = f"cogkit-test-{slug}:{uuid.uuid4().hex[:10]}"
    yield tag
    docker("rmi", "-f", tag, check=False)


@pytest.fixture
def dockerd(docker_engine: str) -> Iterator[Client]:
    """A client on dockerd's embedded BuildKit (the /grpc + /session path)."""
    client = connect(f"docker://{docker_engine}")
    yield client
    client.close()
