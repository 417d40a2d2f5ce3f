"""Registry credentials from a Docker config: auths, identity tokens and credential helpers."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from cogkit.buildkit.session.auth import Credentials, lookup_credentials


def _config(tmp_path: Path, data: dict[str, object]) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_auths_entries_basic_and_identity_token(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        {
            "auths": {
                "registry.example:5000": {"auth": base64.b64encode(b"alice:s3cr:et").decode()},
                "https://index.docker.io/v1/": {"identitytoken": "tok"},
                "https://other.example/v2/": {"auth": base64.b64encode(b"bob:pw").decode()},
            }
        },
    )
    assert lookup_credentials("registry.example:5000", config) == Credentials("alice", "s3cr:et")
    assert lookup_credentials("registry-1.docker.io", config) == Credentials("", "tok")
    assert lookup_credentials("other.example", config) == Credentials("bob", "pw")
    assert lookup_credentials("unknown.example", config) is None


@pytest.fixture
def helper_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real docker-credential-* executable (the protocol: server URL on stdin, JSON on stdout)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-cogkittest"
    helper.write_text(
        "#!/bin/sh\n"
        '[ "$1" = get ] || exit 1\n'
        "read host\n"
        'case "$host" in\n'
        '  helped.example) echo "{\\"Username\\":\\"helper-user\\",\\"Secret\\":\\"helper-pw\\"}" ;;\n'
        '  token.example) echo "{\\"Username\\":\\"<token>\\",\\"Secret\\":\\"id-token\\"}" ;;\n'
        '  *) echo "credentials not found in native keychain"; exit 1 ;;\n'
        "esac\n"
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return helper


def test_cred_helpers_and_creds_store(tmp_path: Path, helper_on_path: Path) -> None:
    per_host = _config(
        tmp_path, {"credHelpers": {"helped.example": "cogkittest", "token.example": "cogkittest"}}
    )
    assert lookup_credentials("helped.example", per_host) == Credentials("helper-user", "helper-pw")
    assert lookup_credentials("token.example", per_host) == Credentials("", "id-token")
    store = _config(tmp_path, {"credsStore": "cogkittest", "auths": {"helped.example": {}}})
    assert lookup_credentials("helped.example", store) == Credentials("helper-user", "helper-pw")
    assert lookup_credentials("nothing.example", store) is None
