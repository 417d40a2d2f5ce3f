"""`cogkit login`: check registry credentials, then store them where Docker and `cogkit push` look."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "login",
        help="log in to a container registry",
        description="Verify credentials against a registry (GET /v2/) and store them in the Docker "
        "credential store or ~/.docker/config.json, where `cogkit push` and builds find them.",
    )
    parser.add_argument(
        "registry",
        nargs="?",
        default=None,
        help="registry host[:port] (default: the host of `image:` in cog.yaml, else docker.io)",
    )
    parser.add_argument("-u", "--username", help="user name (prompted for when omitted on a terminal)")
    parser.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    parser.add_argument(
        "--token-stdin",
        action="store_true",
        help="Cog's flag: read a token from stdin and log in with it (as the password of -u, default "
        "`cogkit`); r8.im's token exchange is not reachable from here",
    )
    parser.add_argument("--insecure", action="store_true", help="talk plain HTTP to a non-loopback registry")
    parser.set_defaults(func=run)


def _default_registry() -> str:
    """The registry of cog.yaml's `image:`, so `cogkit login && cogkit push` just works."""
    from pathlib import Path

    from cogkit.docker.credentials import DOCKER_HUB

    path = Path("cog.yaml")
    if not path.exists():
        return DOCKER_HUB
    try:
        import yaml

        image = (yaml.safe_load(path.read_text()) or {}).get("image")
    except Exception:
        return DOCKER_HUB
    if isinstance(image, str) and "/" in image:
        first = image.split("/", 1)[0]
        if "." in first or ":" in first or first == "localhost":
            return first
    return DOCKER_HUB


def run(args: argparse.Namespace) -> int:
    import getpass

    from cogkit.docker.credentials import Credentials, normalize_registry, store_credentials
    from cogkit.docker.registry_login import verify_credentials
    from cogkit.errors import CogkitError

    registry = normalize_registry(args.registry or _default_registry())
    interactive = sys.stdin.isatty()
    if args.token_stdin:
        return _login_with_token(registry, args)
    username = args.username
    if not username:
        if args.password_stdin or not interactive:
            raise CogkitError("a username is needed", hint="pass --username USER")
        username = input(f"Username for {registry}: ").strip()
    if args.password_stdin:
        password = sys.stdin.read().rstrip("\r\n")
    elif interactive:
        password = getpass.getpass(f"Password for {username}@{registry}: ")
    else:
        raise CogkitError(
            "no password given and stdin is not a terminal", hint="pipe it in with --password-stdin"
        )
    if not password:
        raise CogkitError("the password is empty", hint="pipe it in with --password-stdin")
    creds = Credentials(username, password)
    verify_credentials(registry, creds, insecure=args.insecure)
    where = store_credentials(registry, creds)
    print(f"Login succeeded: {username}@{registry} (stored in {where})")
    return 0


def _login_with_token(registry: str, args: argparse.Namespace) -> int:
    """`--token-stdin`: Cog reads all of stdin, trimmed. r8.im verifies it at /cog/v1/verify-token;
    other registries get it as a password-style token (GitHub, GitLab and most others accept that)."""
    from cogkit.docker.credentials import Credentials, store_credentials
    from cogkit.docker.registry_login import verify_credentials
    from cogkit.errors import CogkitError

    token = sys.stdin.read().strip()
    if not token:
        raise CogkitError(
            "token is empty", hint="pipe the token in: echo $TOKEN | cogkit login --token-stdin"
        )
    if registry == "r8.im":
        raise CogkitError(
            "r8.im's token verification (https://r8.im/cog/v1/verify-token) is not reachable from cogkit",
            hint="log in to another registry, e.g. cogkit login HOST -u USER --password-stdin",
        )
    creds = Credentials(args.username or "cogkit", token)
    verify_credentials(registry, creds, insecure=args.insecure)
    where = store_credentials(registry, creds)
    print(f"Login succeeded for {registry} (stored in {where})")
    return 0
