"""Hints that name CLI flags, added to the BuildKit client's typed errors on their way to the user.

The client says what went wrong; only the command line knows that `--builder`, `--secret` and
`--cache-to`/`--cache-from` are how a user changes it.
"""

from __future__ import annotations

import sys

from cogkit.errors import CogkitError

_BUILDER = "with --builder/BUILDKIT_HOST"


def add_flag_hint(error: CogkitError) -> CogkitError:
    """The same error with its hint pointing at the flag that fixes it (unchanged if none does)."""
    errors = sys.modules.get("cogkit.buildkit.errors")
    if errors is None:  # never imported, so the error cannot be one of its types (and --help stays fast)
        return error
    if isinstance(error, errors.EngineUnreachable):
        if error.address.is_docker:
            error.hint = f"{error.hint} {_BUILDER}"
        else:
            start = "start buildkitd there (e.g. `buildkitd --addr <address>`)"
            error.hint = f"{start}, or use --builder docker:// {_BUILDER}"
    elif isinstance(error, errors.SecretFileMissing):
        error.hint = "fix src= in the --secret option"
    elif isinstance(error, errors.SecretNotFound):
        error.hint = "pass it with --secret id=NAME,src=PATH"
    elif isinstance(error, errors.CacheOptionError):
        if error.direction == "import":
            error.hint = "e.g. --cache-from type=registry,ref=r/x"
        else:
            error.hint = "use --cache-to type=inline, then --cache-from the pushed image"
    return error
