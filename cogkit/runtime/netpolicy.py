"""Which addresses the server may connect to when a request names a URL (inputs, uploads, webhooks).

A client of the prediction server chooses URLs the server then fetches or posts to. Without a rule
that is a way into whatever the server can reach: the cloud metadata service at 169.254.169.254
hands out credentials. The rule is a deny list of address ranges, checked on the address actually
connected to: hostnames are resolved by `policy_resolver`, which drops denied addresses before
aiohttp sees them, so the connection goes to an address that was checked (no DNS-rebinding
window); IP literals never reach a resolver in aiohttp, so `check_url` checks them, and every
redirect hop is checked again by `guarded_request`, which follows redirects itself.

Defaults: link-local and metadata ranges denied (169.254.0.0/16, fe80::/10, fd00:ec2::254);
loopback and private ranges allowed, as Cog allows them, unless `deny_private` is set (a public
deployment). `COGKIT_DENY_NETWORKS` (comma-separated CIDRs) adds ranges; `COGKIT_DENY_PRIVATE=1`
denies loopback and private ranges. IPv4-mapped, IPv4-compatible and NAT64 IPv6 forms are checked
as the IPv4 address they carry.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cogkit.errors import CogkitError

if TYPE_CHECKING:
    import aiohttp
    import aiohttp.abc

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_DENIED = ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")
PRIVATE = (
    "0.0.0.0/8", "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
    "::/128", "::1/128", "fc00::/7",
)
DENY_NETWORKS_ENV = "COGKIT_DENY_NETWORKS"
DENY_PRIVATE_ENV = "COGKIT_DENY_PRIVATE"
MAX_REDIRECTS_ENV = "COGKIT_MAX_REDIRECTS"
DEFAULT_MAX_REDIRECTS = 10
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_REDIRECTS = frozenset((301, 302, 303, 307, 308))


class DeniedAddress(OSError):
    """A URL's host is (or resolves only to) denied addresses; raised before any connection."""


class BadNetworkSetting(CogkitError):
    """A deny-list entry that is not an address range."""


def normalise(address: str | IPAddress) -> IPAddress:
    """The address a connection would really reach: IPv4 for IPv4-mapped/-compatible/NAT64 IPv6."""
    ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        value = int(ip)
        if 1 < value < 1 << 32:  # deprecated IPv4-compatible form ::a.b.c.d (not :: or ::1)
            return ipaddress.IPv4Address(value)
    return ip


def parse_networks(text: str | Iterable[str], where: str = DENY_NETWORKS_ENV) -> tuple[IPNetwork, ...]:
    """`"10.0.0.0/8, 2001:db8::/32"` → networks; a bare address is a /32 (or /128)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[IPNetwork] = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise BadNetworkSetting(f"{where}: {item!r} is not an address range",
                                    "write CIDR ranges separated by commas, e.g. 10.0.0.0/8,fd00::/8",
                                    ) from None
    return tuple(out)


@dataclass(frozen=True)
class NetworkPolicy:
    """The deny list; `check` raises DeniedAddress for an address in it."""

    denied: tuple[IPNetwork, ...]

    @classmethod
    def build(cls, extra: str | Iterable[str] = (), deny_private: bool = False,
              where: str = DENY_NETWORKS_ENV) -> NetworkPolicy:
        ranges = [*DEFAULT_DENIED, *(PRIVATE if deny_private else ())]
        return cls(parse_networks(ranges, "built-in") + parse_networks(extra, where))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> NetworkPolicy:
        env = os.environ if environ is None else environ
        deny_private = env.get(DENY_PRIVATE_ENV, "").strip().lower() in ("1", "true", "yes", "on")
        return cls.build(env.get(DENY_NETWORKS_ENV, ""), deny_private)

    def denied_by(self, address: str | IPAddress) -> IPNetwork | None:
        """The deny-list range `address` falls in, or None when it may be connected to."""
        ip = normalise(address)
        for net in self.denied:
            if ip.version == net.version and ip in net:
                return net
        return None

    def check(self, address: str | IPAddress, host: str | None = None) -> None:
        net = self.denied_by(address)
        if net is not None:
            shown = f"{host} ({address})" if host and host != str(address) else str(address)
            raise DeniedAddress(f"{shown} is in a denied network ({net})")


_current: NetworkPolicy | None = None


def configure(policy: NetworkPolicy) -> None:
    """Set the process-wide policy (the server does, from its options); the HTTP client reads it."""
    global _current
    _current = policy


def current() -> NetworkPolicy:
    """The process-wide policy: what configure() set, else the defaults plus the environment."""
    global _current
    if _current is None:
        _current = NetworkPolicy.from_env()
    return _current


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host names literally, in any form the C library accepts (e.g. 127.1, 0x7f.1)."""
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefABCDEFxX." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_url(url: str, policy: NetworkPolicy) -> None:
    """Scheme http(s), a host, and no denied IP literal; hostnames are checked when resolved."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise DeniedAddress(f"only http and https URLs are fetched, not {parts.scheme or 'a bare path'!r}")
    # Both parsers' view of the host: aiohttp connects to what yarl makes of it (IDNA-normalised, so
    # "①⑥⑨.②⑤④.①⑥⑨.②⑤④" is 169.254.169.254 to it), and an IP literal never reaches the resolver.
    hosts = {parts.hostname}
    try:
        from yarl import URL

        hosts.add(URL(url).raw_host)
    except ImportError:
        pass
    except ValueError as exc:
        raise DeniedAddress(f"not a valid URL ({exc})") from None
    hosts.discard(None)
    hosts.discard("")
    if not hosts:
        raise DeniedAddress("the URL has no host")
    for host in hosts:
        ip = literal_address(host)  # type: ignore[arg-type]
        if ip is not None:
            policy.check(ip)


_RESOLVER_CLASS: type | None = None


def policy_resolver(policy: NetworkPolicy, inner: Any = None) -> aiohttp.abc.AbstractResolver:
    """An aiohttp resolver that returns only the allowed addresses of a host (denied ones never connect).

    Wraps `inner` (aiohttp's default resolver when None; tests pass one that maps names). The class
    is made on first use, so importing this module never imports aiohttp.
    """
    return _resolver_class()(policy, inner)


def _resolver_class() -> type:
    global _RESOLVER_CLASS
    if _RESOLVER_CLASS is not None:
        return _RESOLVER_CLASS
    from aiohttp.abc import AbstractResolver

    class PolicyResolver(AbstractResolver):
        def __init__(self, policy: NetworkPolicy, inner: Any = None) -> None:
            if inner is None:
                from aiohttp.resolver import DefaultResolver

                inner = DefaultResolver()
            self.policy = policy
            self.inner = inner

        async def resolve(self, host: str, port: int = 0,
                          family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
            results = await self.inner.resolve(host, port, family)
            allowed, refused = [], []
            for entry in results:
                net = self.policy.denied_by(entry["host"])
                if net is None:
                    allowed.append(entry)
                else:
                    refused.append((entry["host"], net))
            if not allowed:
                if refused:
                    address, net = refused[0]
                    raise DeniedAddress(f"{host} resolves to {address}, in a denied network ({net})")
                raise OSError(f"{host} did not resolve to any address")
            return allowed

        async def close(self) -> None:
            await self.inner.close()

    _RESOLVER_CLASS = PolicyResolver
    return PolicyResolver


def denial(exc: BaseException) -> DeniedAddress | None:
    """The DeniedAddress behind an aiohttp connection error, if the policy caused it."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, DeniedAddress):
            return exc
        inner = getattr(exc, "os_error", None)
        exc = inner if isinstance(inner, BaseException) else (exc.__cause__ or exc.__context__)  # type: ignore[assignment]
        seen += 1
    return None


def max_redirects_from_env() -> int:
    try:
        return max(0, int(os.environ.get(MAX_REDIRECTS_ENV, str(DEFAULT_MAX_REDIRECTS))))
    except ValueError:
        return DEFAULT_MAX_REDIRECTS


class TooManyRedirects(Exception):
    """More redirect hops than allowed."""


async def guarded_request(session: aiohttp.ClientSession, method: str, url: str, policy: NetworkPolicy,
                          *, max_redirects: int, **kwargs: Any) -> aiohttp.ClientResponse:
    """`session.request` that checks every hop's URL and follows at most `max_redirects` redirects.

    The caller closes the returned response (use it as `async with await guarded_request(...)`).
    A body is re-sent on 307/308 only; 301/302/303 continue as GET without one, as browsers do.
    Redirects are followed only for bodies that can be sent again (bytes or none).
    """
    from yarl import URL

    kwargs["allow_redirects"] = False
    current = url
    for hop in range(max_redirects + 1):
        check_url(current, policy)
        resp = await session.request(method, current, **kwargs)
        if resp.status not in _REDIRECTS:
            return resp
        location = resp.headers.get("Location")
        resp.release()
        if location is None:
            return resp
        if hop == max_redirects:
            break
        data = kwargs.get("data")
        if data is not None and not isinstance(data, bytes | bytearray):
            raise TooManyRedirects(f"HTTP {resp.status} redirect not followed for a streamed body")
        if resp.status in (301, 302, 303) and method not in ("GET", "HEAD"):
            method = "GET"
            kwargs.pop("data", None)
        current = str(URL(current).join(URL(location)))
    raise TooManyRedirects(f"more than {max_redirects} redirects")
