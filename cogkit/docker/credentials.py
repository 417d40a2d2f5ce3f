"""Registry credentials in Docker's own places, so `docker`, `cogkit push` and build sessions share them.

Docker keeps them in `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`): either inline
under `auths` (base64 `user:password`) or, when `credsStore`/`credHelpers` name a helper, in the
`docker-credential-<helper>` program (store/get/erase over stdin, JSON in and out). Builds read them
back through cogkit.buildkit.session.auth (the daemon asks the session), so this module only stores them.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cogkit.errors import CogkitError

DOCKER_HUB = "docker.io"
DOCKER_HUB_KEY = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return (Path(base) if base else Path.home() / ".docker") / "config.json"


def normalize_registry(registry: str) -> str:
    """`https://127.0.0.1:5001/` → `127.0.0.1:5001`; Docker Hub spellings → `docker.io`."""
    host = registry.strip()
    for prefix in ("https://", "http://"):
        if host.startswith(prefix):
            host = host[len(prefix) :]
    host = host.split("/", 1)[0]
    if host in {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}:
        return DOCKER_HUB
    return host


def config_key(registry: str) -> str:
    host = normalize_registry(registry)
    return DOCKER_HUB_KEY if host == DOCKER_HUB else host


def load_config() -> dict[str, Any]:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise CogkitError(f"cannot read {path}: {exc}", hint="fix or remove the file, then retry") from None
    return data if isinstance(data, dict) else {}


def _save_config(data: dict[str, Any]) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".json.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent="\t")
        handle.write("\n")
    os.replace(tmp, path)


def helper_for(registry: str, config: dict[str, Any] | None = None) -> str | None:
    config = load_config() if config is None else config
    key = config_key(registry)
    helpers = config.get("credHelpers") or {}
    helper = helpers.get(key) or helpers.get(normalize_registry(registry))
    return helper or config.get("credsStore") or None


def _run_helper(helper: str, action: str, payload: str) -> str:
    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run([program, action], input=payload, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise CogkitError(
            f"the Docker credential helper {program} is not installed",
            hint=f"install it, or remove credsStore/credHelpers from {config_path()}",
        ) from None
    if done.returncode != 0:
        message = (done.stdout.strip() or done.stderr.strip() or f"exit {done.returncode}").splitlines()[0]
        raise CogkitError(f"{program} {action} failed: {message}", hint="check the credential helper")
    return done.stdout


def store_credentials(registry: str, creds: Credentials) -> str:
    """Save credentials where Docker looks for them; returns a description of where that was."""
    config = load_config()
    helper = helper_for(registry, config)
    key = config_key(registry)
    if helper:
        _run_helper(
            helper,
            "store",
            json.dumps({"ServerURL": key, "Username": creds.username, "Secret": creds.password}),
        )
        auths = config.setdefault("auths", {})
        auths.setdefault(key, {})  # Docker lists helper-stored registries here without secrets
        auths[key].pop("auth", None)
        _save_config(config)
        return f"credential helper docker-credential-{helper}"
    token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode("ascii")
    config.setdefault("auths", {})[key] = {"auth": token}
    _save_config(config)
    return str(config_path())
