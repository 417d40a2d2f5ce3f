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

