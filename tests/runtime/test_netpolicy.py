"""The outbound network policy on real sockets: local aiohttp servers on 127.0.0.1 only.

Denied addresses are never connected to: the tests count the connections aiohttp makes (trace
hooks) and the requests the local servers receive. No traffic leaves the loopback interface.
"""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from aiohttp import web

from cogkit.runtime import netpolicy
from cogkit.runtime.netpolicy import DeniedAddress, NetworkPolicy, check_url, guarded_request

DEFAULT = NetworkPolicy.build()
PUBLIC = NetworkPolicy.build(deny_private=True)


@pytest.mark.parametrize("address", [
    "169.254.169.254", "169.254.0.1", "::ffff:169.254.169.254", "::ffff:a9fe:a9fe", "64:ff9b::a9fe:a9fe",
    "::169.254.169.254", "fd00:ec2::254", "fe80::1", "fe80::1%eth0",
])
def test_link_local_and_metadata_are_denied_by_default(address):
    assert DEFAULT.denied_by(address) is not None
    with pytest.raises(DeniedAddress, match="denied network"):
        DEFAULT.check(address)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.1.2.3", "192.168.0.10", "172.16.5.5",
                                     "fd12::1", "100.64.0.1", "0.0.0.0", "::ffff:127.0.0.1"])
def test_loopback_and_private_allowed_by_default_denied_for_public(address):
    assert DEFAULT.denied_by(address) is None
    assert PUBLIC.denied_by(address) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_always_allowed(address):
    assert PUBLIC.denied_by(address) is None


def test_settings_from_environment_add_ranges():
    policy = NetworkPolicy.from_env({"COGKIT_DENY_NETWORKS": "203.0.113.0/24, 2001:db8::1",
                                     "COGKIT_DENY_PRIVATE": "0"})
    assert policy.denied_by("203.0.113.7") is not None
    assert policy.denied_by("2001:db8::1") is not None
    assert policy.denied_by("169.254.169.254") is not None, "the defaults stay"
    assert policy.denied_by("127.0.0.1") is None
    assert NetworkPolicy.from_env({"COGKIT_DENY_PRIVATE": "true"}).denied_by("127.0.0.1") is not None
    with pytest.raises(netpolicy.BadNetworkSetting, match="'nope' is not an address range"):
        NetworkPolicy.from_env({"COGKIT_DENY_NETWORKS": "10.0.0.0/8,nope"})


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/", "HTTP://169.254.169.254/",
    "http://169.254.169.254./", "http://0xa9.0xfe.0xa9.0xfe/", "http://2852039166/", "http://0251.0376.0251.0376/",
    "http://169.254.43518/", "http://[fd00:ec2::254]/", "http://[fe80::1%25eth0]/",
    "http://\u2460\u2465\u2468.\u2461\u2464\u2463.\u2460\u2465\u2468.\u2461\u2464\u2463/",  # circled digits
    "http://169\u3002254\u3002169\u3002254/",  # ideographic full stops: IDNA makes them dots
    "http://169.254.169.254\\@example.com/",
])
def test_ip_literals_in_any_form_are_refused(url):
    with pytest.raises(DeniedAddress):
        check_url(url, DEFAULT)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://x/y", "gopher://127.0.0.1/", "/etc/passwd",
                                 "http:///nohost"])
def test_only_http_urls_with_a_host(url):
    with pytest.raises(DeniedAddress):
        check_url(url, DEFAULT)


# ------------------------------------------------------------------------------- real sockets
class MapResolver:
    """Answers like a DNS server that maps names to chosen addresses (some of them denied)."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict]:
        self.asked.append(host)
        answers = self.table[host]
        if callable(answers):
            answers = answers()
        return [{"hostname": host, "host": a, "port": port, "family": socket.AF_INET6 if ":" in a
                 else socket.AF_INET, "proto": 0, "flags": 0} for a in answers]

    async def close(self) -> None:
        pass


class Origin:
    """A local HTTP server; `hits` counts requests per path."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.port = 0
        self.routes: dict[str, tuple[int, dict[str, str]]] = {}

    async def handle(self, request: web.Request) -> web.Response:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        status, headers = self.routes.get(request.path, (200, {}))
        return web.Response(status=status, headers=headers, text="origin")

    async def __aenter__(self) -> Origin:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


async def _session(policy: NetworkPolicy, inner: MapResolver | None,
                   connections: list[str]) -> aiohttp.ClientSession:
    trace = aiohttp.TraceConfig()

    async def made(_session, _ctx, _params) -> None:
        connections.append("connection")

    trace.on_connection_create_end.append(made)
    connector = aiohttp.TCPConnector(resolver=netpolicy.policy_resolver(policy, inner), use_dns_cache=False)
    return aiohttp.ClientSession(connector=connector, trace_configs=[trace])


def _run(coro):
    return asyncio.run(coro)


def test_resolved_hostnames_connect_only_to_allowed_addresses():
    async def scenario() -> None:
        async with Origin() as origin:
            dns = MapResolver({"model.test": ["127.0.0.1"], "metadata.test": ["169.254.169.254"],
                               "mapped.test": ["::ffff:169.254.169.254"],
                               "mixed.test": ["169.254.169.254", "127.0.0.1"]})
            connections: list[str] = []
            async with await _session(DEFAULT, dns, connections) as session:
                async with await guarded_request(session, "GET", f"http://model.test:{origin.port}/a",
                                                 DEFAULT, max_redirects=3) as resp:
                    assert resp.status == 200 and await resp.text() == "origin"
                assert connections == ["connection"]
                for name in ("metadata.test", "mapped.test"):
                    with pytest.raises(aiohttp.ClientConnectorError) as info:
                        await guarded_request(session, "GET", f"http://{name}:{origin.port}/b", DEFAULT,
                                              max_redirects=3)
                    denied = netpolicy.denial(info.value)
                    assert denied is not None and "169.254.169.254" in str(denied)
                assert connections == ["connection"], "a denied address is never connected to"
                async with await guarded_request(session, "GET", f"http://mixed.test:{origin.port}/c",
                                                 DEFAULT, max_redirects=3) as resp:
                    assert resp.status == 200, "the allowed address of a mixed answer is used"
                assert origin.hits == {"/a": 1, "/c": 1}

    _run(scenario())


def test_dns_rebinding_is_checked_on_every_connection():
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])

    async def scenario() -> None:
        async with Origin() as origin:
            dns = MapResolver({"rebind.test": lambda: next(answers)})
            connections: list[str] = []
            async with await _session(DEFAULT, dns, connections) as session:
                url = f"http://rebind.test:{origin.port}/x"
                async with await guarded_request(session, "GET", url, DEFAULT, max_redirects=0,
                                                 headers={"Connection": "close"}) as resp:
                    assert resp.status == 200
                with pytest.raises(aiohttp.ClientConnectorError) as info:
                    await guarded_request(session, "GET", url, DEFAULT, max_redirects=0)
                assert isinstance(netpolicy.denial(info.value), DeniedAddress)
                assert connections == ["connection"]
                assert dns.asked == ["rebind.test", "rebind.test"]

    _run(scenario())


def test_every_redirect_hop_is_checked():
    async def scenario() -> None:
        async with Origin() as origin:
            dns = MapResolver({"model.test": ["127.0.0.1"], "metadata.test": ["169.254.169.254"]})
            origin.routes = {
                "/to-literal": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}),
                "/to-mapped": (301, {"Location": "http://[::ffff:169.254.169.254]/"}),
                "/to-name": (307, {"Location": f"http://metadata.test:{origin.port}/x"}),
                "/to-file": (302, {"Location": "file:///etc/passwd"}),
                "/loop": (302, {"Location": "/loop"}),
                "/hop": (303, {"Location": f"http://model.test:{origin.port}/end"}),
            }
            connections: list[str] = []
            async with await _session(DEFAULT, dns, connections) as session:
                base = f"http://model.test:{origin.port}"
                for path in ("/to-literal", "/to-mapped", "/to-file"):
                    with pytest.raises(DeniedAddress):
                        await guarded_request(session, "GET", base + path, DEFAULT, max_redirects=5)
                with pytest.raises(aiohttp.ClientConnectorError) as info:
                    await guarded_request(session, "GET", base + "/to-name", DEFAULT, max_redirects=5)
                assert isinstance(netpolicy.denial(info.value), DeniedAddress)
                with pytest.raises(netpolicy.TooManyRedirects, match="more than 3 redirects"):
                    await guarded_request(session, "GET", base + "/loop", DEFAULT, max_redirects=3)
                assert origin.hits["/loop"] == 4
                async with await guarded_request(session, "POST", base + "/hop", DEFAULT, max_redirects=2,
                                                 data=b"body") as resp:
                    assert resp.status == 200 and resp.method == "GET"
                assert origin.hits["/end"] == 1
                assert "/x" not in origin.hits
                assert len(connections) == 1, "one pooled connection to 127.0.0.1, nothing else"

    _run(scenario())


def test_deny_private_refuses_loopback_by_name_and_literal():
    async def scenario() -> None:
        async with Origin() as origin:
            connections: list[str] = []
            # the real system resolver: localhost is 127.0.0.1 / ::1 on every machine
            async with await _session(PUBLIC, None, connections) as session:
                with pytest.raises(DeniedAddress):
                    await guarded_request(session, "GET", f"http://127.0.0.1:{origin.port}/", PUBLIC,
                                          max_redirects=0)
                with pytest.raises(aiohttp.ClientConnectorError) as info:
                    await guarded_request(session, "GET", f"http://localhost:{origin.port}/", PUBLIC,
                                          max_redirects=0)
                assert isinstance(netpolicy.denial(info.value), DeniedAddress)
            assert connections == [] and origin.hits == {}

    _run(scenario())
