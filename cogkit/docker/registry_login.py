"""Check registry credentials against the registry itself before they are stored.

A wrong password saved silently only fails later, mid-push. The Distribution API answers `GET /v2/`
with 200 (basic auth accepted) or 401 with a challenge: `Basic` (ask again with the credentials) or
`Bearer realm=...,service=...` (fetch a token from the realm with the credentials).
"""

from __future__ import annotations

import base64
import ipaddress
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request

from cogkit.docker.credentials import DOCKER_HUB, Credentials, normalize_registry
from cogkit.errors import CogkitError

_TIMEOUT = 15


class LoginError(CogkitError):
    """The registry refused the credentials or could not be reached."""


def is_local(host: str) -> bool:
    """Loopback registries speak plain HTTP (as Docker assumes for them)."""
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def api_base(registry: str, insecure: bool = False) -> str:
    host = normalize_registry(registry)
    if host == DOCKER_HUB:
        return "https://registry-1.docker.io"
    scheme = "http" if insecure or is_local(host) else "https"
    return f"{scheme}://{host}"


def _basic(creds: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode("ascii")


def _get(url: str, auth: str | None) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, headers={"Authorization": auth} if auth else {})
    context = ssl.create_default_context()
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT, context=context) as response:
            return response.status, dict(response.headers.items())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()) if exc.headers else {}


def _challenge(headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    value = next((v for k, v in headers.items() if k.lower() == "www-authenticate"), "")
    scheme, _, rest = value.partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


def verify_credentials(registry: str, creds: Credentials, insecure: bool = False) -> None:
    """Raise LoginError unless the registry accepts `creds`."""
    base = api_base(registry, insecure)
    url = f"{base}/v2/"
    host = normalize_registry(registry)
    try:
        status, headers = _get(url, _basic(creds))
        if status == 401:
            scheme, params = _challenge(headers)
            if scheme == "bearer" and params.get("realm"):
                query = {"service": params.get("service", host), "account": creds.username}
                token_url = params["realm"] + "?" + urllib.parse.urlencode(query)
                status, _ = _get(token_url, _basic(creds))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LoginError(
            f"cannot reach the registry at {base}: {reason}",
            hint="check the address and that the registry is running"
            + ("" if base.startswith("http:") else "; pass --insecure for a plain-HTTP registry"),
        ) from None
    if status in (401, 403):
        raise LoginError(
            f"{host} rejected the username or password for {creds.username!r}",
            hint="check them and retry; nothing was stored",
        )
    if status >= 400:
        raise LoginError(
            f"{host} answered HTTP {status} to {url}", hint="is this address a container registry?"
        )
