"""`cogkit login` against the real htpasswd registry on 127.0.0.1:5001."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from pathlib import Path


def test_login_stores_verified_credentials_in_docker_config(
    tmp_path: Path, auth_registry, cli, snapshot, docker_cli
) -> None:
    address, user, password = auth_registry
    env = {"DOCKER_CONFIG": str(tmp_path)}
    result = cli("login", address, "--username", user, "--password-stdin", stdin=password + "\n", env=env)
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "config.json").read_text())
    assert base64.b64decode(config["auths"][address]["auth"]).decode() == f"{user}:{password}"
    assert stat.S_IMODE(os.stat(tmp_path / "config.json").st_mode) == 0o600
    # The docker CLI reads the same file: pushing needs no second login.
    check = subprocess.run(
        [docker_cli, "login", address],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr


def test_login_with_wrong_password_stores_nothing(
    tmp_path: Path, auth_registry, cli, snapshot, docker_cli
) -> None:
    address, user, _ = auth_registry
    result = cli(
        "login",
        address,
        "-u",
        user,
        "--password-stdin",
        stdin="wrong\n",
        env={"DOCKER_CONFIG": str(tmp_path)},
    )
    assert result.returncode == 1
    snapshot("login_rejected", result.stderr)
    assert not (tmp_path / "config.json").exists()


def test_login_through_a_credential_helper(tmp_path: Path, auth_registry, cli, snapshot, docker_cli) -> None:
    """With credsStore set, the secret goes to docker-credential-<store>, not into config.json."""
    address, user, password = auth_registry
    bindir = tmp_path / "bin"
    bindir.mkdir()
    store = tmp_path / "store.json"
    helper = bindir / "docker-credential-filetest"
    helper.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"path = {str(store)!r}\n"
        "action = sys.argv[1]\n"
        "data = sys.stdin.read()\n"
        "if action == 'store':\n"
        "    open(path, 'w').write(data)\n"
        "elif action == 'get':\n"
        "    entry = json.load(open(path))\n"
        "    print(json.dumps({'ServerURL': entry['ServerURL'], 'Username': entry['Username'],"
        " 'Secret': entry['Secret']}))\n"
    )
    helper.chmod(0o755)
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "filetest"}))
    env = {"DOCKER_CONFIG": str(tmp_path), "PATH": f"{bindir}:{os.environ['PATH']}"}
    result = cli("login", address, "-u", user, "--password-stdin", stdin=password, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(store.read_text()) == {"ServerURL": address, "Username": user, "Secret": password}
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["credsStore"] == "filetest"
    assert "auth" not in config["auths"].get(address, {})


def test_login_unreachable_registry(tmp_path: Path, cli) -> None:
    result = cli(
        "login", "127.0.0.1:1", "-u", "x", "--password-stdin", stdin="y", env={"DOCKER_CONFIG": str(tmp_path)}
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach the registry at http://127.0.0.1:1")
    assert "Traceback" not in result.stderr


def test_login_defaults_to_the_registry_of_cog_yaml_image(tmp_path: Path, auth_registry, cli) -> None:
    address, user, password = auth_registry
    (tmp_path / "cog.yaml").write_text(f'build:\n  python_version: "3.11"\nimage: {address}/team/model\n')
    config_dir = tmp_path / "docker"
    result = cli(
        "login",
        "-u",
        user,
        "--password-stdin",
        stdin=password,
        cwd=tmp_path,
        env={"DOCKER_CONFIG": str(config_dir)},
    )
    assert result.returncode == 0, result.stderr
    assert address in json.loads((config_dir / "config.json").read_text())["auths"]
