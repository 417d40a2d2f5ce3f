"""Builder address parsing: precedence and malformed input (pure logic)."""

from __future__ import annotations

import pytest

from cogkit.buildkit.address import TLSConfig, parse_address, resolve_address
from cogkit.errors import CogkitError


def test_precedence_explicit_over_buildkit_host_over_docker_host() -> None:
    env = {"BUILDKIT_HOST": "unix:///run/buildkit/buildkitd.sock", "DOCKER_HOST": "unix:///tmp/d.sock"}
    assert resolve_address("tcp://10.0.0.1:1234", environ=env).kind == "tcp"
    assert resolve_address(None, environ=env).path == "/run/buildkit/buildkitd.sock"
    docker = resolve_address(None, environ={"DOCKER_HOST": "unix:///tmp/d.sock"})
    assert (docker.kind, docker.path) == ("docker", "/tmp/d.sock")
    default = resolve_address(None, environ={})
    assert (default.kind, default.path) == ("docker", "/var/run/docker.sock")


def test_docker_scheme_with_and_without_path() -> None:
    assert parse_address("docker://").path == "/var/run/docker.sock"
    assert parse_address("docker:///srv/docker.sock").path == "/srv/docker.sock"


def test_tcp_with_tls_options_from_query() -> None:
    addr = parse_address("tcp://build.example:1234?ca=/c.pem&cert=/x.pem&key=/k.pem&servername=bk")
    assert (addr.host, addr.port) == ("build.example", 1234)
    assert addr.tls == TLSConfig(ca="/c.pem", cert="/x.pem", key="/k.pem", server_name="bk")


@pytest.mark.parametrize(
    "raw",
    ["buildkitd.sock", "ftp://x:1", "tcp://host", "tcp://host:notaport", "unix://relative/path", "tcp://:12"],
)
def test_malformed_addresses_are_one_line_errors_with_a_hint(raw: str) -> None:
    with pytest.raises(CogkitError) as info:
        parse_address(raw)
    assert "\n" not in info.value.message and raw in info.value.message
    assert info.value.hint and "unix://" in info.value.hint


def test_tls_cert_without_key_is_rejected() -> None:
    with pytest.raises(CogkitError, match="together"):
        TLSConfig(cert="/x.pem").read()
