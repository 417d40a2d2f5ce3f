"""The runtime's HTTP client against real local aiohttp servers: retried uploads, verified TLS."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cogkit.runtime import httpclient
from cogkit.runtime.files import FileUploadError, OutputFiles

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _serve(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"


def _run(coro: Awaitable[object]) -> object:
    async def main() -> object:
        try:
            return await coro
        finally:
            await httpclient.close()

    return asyncio.run(main())  # type: ignore[arg-type]


def _fails_once(status: int, seen: list[tuple[str, bytes, str]]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        if not seen:
            seen.append(("failed", await request.read(), request.path))
            return web.Response(status=status)
        if request.content_type.startswith("multipart/"):
            field = await (await request.multipart()).next()  # type: ignore[union-attr]
            seen.append((f"multipart:{field.filename}", await field.read(), request.path))  # type: ignore[union-attr]
        else:
            seen.append(("raw", await request.read(), request.path))
        return web.Response(status=201, headers={"Location": f"{request.url.with_query(None)}?sig=secret"})

    return handler


@pytest.fixture
def output(tmp_path: Path) -> Path:
    path = tmp_path / "out.png"
    path.write_bytes(b"\x89PNG" + bytes(range(256)) * 64)
    return path


def test_multipart_upload_is_retried_after_a_failure(output: Path) -> None:
    seen: list[tuple[str, bytes, str]] = []

    async def scenario() -> str:
        runner, base = await _serve(_fails_once(503, seen))
        try:
            return await OutputFiles("p1", output_file_prefix=f"{base}/outputs/").one(str(output))
        finally:
            await runner.cleanup()

    url = _run(scenario())
    assert [kind for kind, _, _ in seen] == ["failed", "multipart:out.png"]
    assert seen[1][1] == output.read_bytes() and seen[1][2] == "/outputs/out.png"
    assert isinstance(url, str) and url.endswith("/outputs/out.png")


def test_signed_put_is_retried_and_the_location_loses_its_query(output: Path) -> None:
    seen: list[tuple[str, bytes, str]] = []

    async def scenario() -> str:
        runner, base = await _serve(_fails_once(500, seen))
        try:
            return await OutputFiles("p1", upload_url=f"{base}/up").one(str(output))
        finally:
            await runner.cleanup()

    url = _run(scenario())
    assert [kind for kind, _, _ in seen] == ["failed", "raw"] and seen[1][1] == output.read_bytes()
    assert isinstance(url, str) and url.endswith("/up/out.png") and "sig=" not in url


def test_a_refused_upload_is_not_retried(output: Path) -> None:
    attempts: list[int] = []

    async def forbidden(request: web.Request) -> web.Response:
        await request.read()
        attempts.append(1)
        return web.Response(status=403)

    async def scenario() -> None:
        runner, base = await _serve(forbidden)
        try:
            await OutputFiles("p1", output_file_prefix=f"{base}/o/").one(str(output))
        finally:
            await runner.cleanup()

    with pytest.raises(FileUploadError, match="HTTP 403"):
        _run(scenario())
    assert len(attempts) == 1


def test_retries_stop_after_the_policy_s_attempts() -> None:
    attempts: list[int] = []

    async def busy(request: web.Request) -> web.Response:
        attempts.append(1)
        return web.Response(status=429, headers={"Retry-After": "0"})

    async def scenario() -> None:
        runner, base = await _serve(busy)
        try:
            await httpclient.request("POST", base, body=lambda: open(__file__, "rb"),
                                     timeout=aiohttp.ClientTimeout(total=5),
                                     retry=httpclient.Retry(attempts=3, base=0.01))
        finally:
            await runner.cleanup()

    with pytest.raises(httpclient.RetriesExhausted, match="HTTP 429"):
        _run(scenario())
    assert len(attempts) == 3


def _self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    loopback = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([loopback]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return server, cert_file


def test_tls_is_verified_with_the_client_s_own_context(tmp_path: Path) -> None:
    """An unknown CA is refused; trusting it in verified_context() (the context the session's
    connector carries, not aiohttp's import-time default) lets the same request through."""
    server_ctx, cert_file = _self_signed(tmp_path)

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def get(base: str) -> int:
        async with httpclient.session().get(base, timeout=aiohttp.ClientTimeout(total=5)) as resp:
            return resp.status

    async def scenario() -> int:
        runner, base = await _serve(ok, server_ctx)
        try:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await get(base)
            httpclient.verified_context().load_verify_locations(cert_file)
            return await get(base)
        finally:
            await runner.cleanup()

    import aiohttp.connector

    aiohttp_default = getattr(aiohttp.connector, "_SSL_CONTEXT_VERIFIED", None)
    assert _run(scenario()) == 200
    # aiohttp's own (private) default is left alone: other sessions in the process keep theirs
    assert getattr(aiohttp.connector, "_SSL_CONTEXT_VERIFIED", None) is aiohttp_default

