"""The BuildKit client's typed errors get the hints that name CLI flags only at the CLI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from cogkit.buildkit.address import parse_address
from cogkit.buildkit.errors import EngineUnreachable, SecretNotFound
from cogkit.buildkit.exporters import CacheEntry, check_cache
from cogkit.buildkit.session.secrets import SecretSource
from cogkit.commands.flag_hints import add_flag_hint
from cogkit.errors import CogkitError

BUILDER = "with --builder/BUILDKIT_HOST"
DOCKERD = "start dockerd (`bash scripts/setup.sh` sets one up, or run `dockerd &`), or pick another builder"
BUILDKITD = "start buildkitd there (e.g. `buildkitd --addr <address>`), or use --builder docker://"


def _raised(action: Callable[[], object]) -> CogkitError:
    with pytest.raises(CogkitError) as info:
        action()
    return info.value


CASES = {
    "docker": (
        lambda: EngineUnreachable(parse_address("docker:///nonexistent/docker.sock"), "No such file"),
        f"{DOCKERD} {BUILDER}",
    ),
    "buildkitd": (
        lambda: EngineUnreachable(parse_address("tcp://127.0.0.1:1"), "refused"),
        f"{BUILDKITD} {BUILDER}",
    ),
    "secret-not-found": (
        lambda: SecretNotFound("run: x", "tok not found"),
        "pass it with --secret id=NAME,src=PATH",
    ),
    "secret-file": (
        lambda: _raised(SecretSource(id="tok", src="/nonexistent/tok").validate),
        "fix src= in the --secret option",
    ),
    "cache-import": (
        lambda: _raised(lambda: check_cache([CacheEntry("registry", {})], [], on_docker=True)),
        "e.g. --cache-from type=registry,ref=r/x",
    ),
    "cache-export": (
        lambda: _raised(lambda: check_cache([], [CacheEntry("local", {"dest": "/x"})], on_docker=True)),
        "use --cache-to type=inline, then --cache-from the pushed image",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_flag_hints_are_added_at_the_cli(case: str) -> None:
    make, cli_hint = CASES[case]
    error = make()
    library_hint = error.hint or ""
    assert library_hint and "--" not in library_hint.replace("--addr", "")  # facts only, no cogkit flag
    assert add_flag_hint(error).hint == cli_hint


def test_other_errors_keep_their_hint() -> None:
    error = CogkitError("x", "y")
    assert add_flag_hint(error) is error and error.hint == "y"


def test_without_the_client_loaded_nothing_is_imported() -> None:
    script = (
        "import sys\n"
        "from cogkit.commands.flag_hints import add_flag_hint\n"
        "from cogkit.errors import CogkitError\n"
        "add_flag_hint(CogkitError('x', 'y'))\n"
        "print(any(m.startswith('cogkit.buildkit') or m == 'grpc' for m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
