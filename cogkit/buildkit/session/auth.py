"""Registry credentials for the daemon, from the user's Docker config (and credential helpers).

The daemon asks the session for credentials when a registry challenges it (pulls, cache imports,
pushes); answering only `Credentials` is enough, the daemon then fetches tokens itself.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass

from cogkit.buildkit.pb import auth_pb2
from cogkit.buildkit.session.h2grpc import UNIMPLEMENTED, RpcError

DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
_DOCKER_HUB_HOSTS = {"registry-1.docker.io", "docker.io", "index.docker.io"}


@dataclass(frozen=True)
class Credentials:
    username: str
    secret: str


def docker_config_path() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def _config_key(host: str) -> str:
    return DOCKER_HUB_CONFIG_KEY if host in _DOCKER_HUB_HOSTS else host


def _from_helper(helper: str, key: str) -> Credentials | None:
    try:
        proc = subprocess.run(
            [f"docker-credential-{helper}", "get"], input=key.encode(), capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        return None
    user, secret = data.get("Username", ""), data.get("Secret", "")
    if user == "<token>":  # helpers mark identity tokens this way
        return Credentials("", secret)
    return Credentials(user, secret)


def lookup_credentials(host: str, config_path: str | None = None) -> Credentials | None:
    """Credentials for a registry host, as `docker login` stored them; None when anonymous."""
    try:
        with open(config_path or docker_config_path(), encoding="utf-8") as fh:
            config = json.load(fh)
    except (OSError, ValueError):
        return None
    key = _config_key(host)
    helper = (config.get("credHelpers") or {}).get(key)
    if helper:
        return _from_helper(helper, key)
    auths = config.get("auths") or {}
    entry = auths.get(key)
    if entry is None:  # entries are sometimes stored as URLs
        for name, value in auths.items():
            bare = name.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
            if bare == key:
                entry = value
                break
    if entry is not None:
        if entry.get("identitytoken"):
            return Credentials("", entry["identitytoken"])
        if entry.get("auth"):
            try:
                user, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            return Credentials(user, secret)
        if entry.get("username"):
            return Credentials(entry["username"], entry.get("password", ""))
    if config.get("credsStore"):
        return _from_helper(config["credsStore"], key)
    return None


class AuthService:
    """Auth.Credentials from the Docker config; the token-authority calls stay UNIMPLEMENTED."""

    def __init__(self, config_path: str | None = None) -> None:
        self.config_path = config_path
        self.requests: list[str] = []

    def credentials(self, request: bytes, metadata: list[tuple[str, str]]) -> bytes:
        host = auth_pb2.CredentialsRequest.FromString(request).Host
        self.requests.append(host)
        creds = lookup_credentials(host, self.config_path)
        if creds is None:
            return b""
        return auth_pb2.CredentialsResponse(Username=creds.username, Secret=creds.secret).SerializeToString()

    def unimplemented(self, request: bytes, metadata: list[tuple[str, str]]) -> bytes:
        raise RpcError(UNIMPLEMENTED, "not implemented by cogkit")
