"""Typed errors of the BuildKit client: they carry the facts, and hints that name no CLI flag.

The client is a library (tests, benchmarks and the image builder call it directly), so it cannot know
which flag set an address or a cache option; cogkit/commands/flag_hints.py adds those for the CLI.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from cogkit.buildkit.address import BuilderAddress
from cogkit.errors import BuildError, CogkitError, EngineError


class EngineUnreachable(EngineError):
    """No engine answered at the address: where we tried, why, and how to start one there."""

    def __init__(self, address: BuilderAddress, reason: str) -> None:
        self.address = address
        self.reason = reason
        if address.is_docker:
            hint = "start Docker (`sudo systemctl start docker`, or open Docker Desktop)"
            hint += ", or pick another builder"
        else:
            hint = "start buildkitd there (e.g. `buildkitd --addr <address>`), or pick another builder"
        super().__init__(f"cannot reach {address.describe()}: {reason}", hint)


class StepFailed(BuildError):
    """A build step (a vertex, by its name) failed: its command, exit code and log tail are the facts.

    The message is `step 'NAME' failed ...`; step_in() reads the name back from such a message.
    """

    _STEP = re.compile(r"step (['\"])(.*?)\1 failed")

    def __init__(
        self,
        step: str,
        exit_code: int | None,
        command: Sequence[str] | None,
        log_tail: Sequence[str],
        reason: str,
    ) -> None:
        message = f"step {step!r} failed" + (f" with exit code {exit_code}" if exit_code is not None else "")
        if exit_code is None:
            message += f": {reason}"
        parts = []
        if command:
            parts.append("command: " + shlex.join(command))
        if log_tail:
            parts.append("last log lines:\n" + "\n".join("  " + line for line in log_tail))
        super().__init__(message, "\n".join(parts) or None)
        self.step = step
        self.command = command
        # The step's own status; `exit_code` stays the process status (a failed build always exits 1).
        self.step_exit_code = exit_code
        self.log_tail = list(log_tail)

    @classmethod
    def step_in(cls, message: str) -> str | None:
        """The failed step's name in a StepFailed message, or None."""
        found = cls._STEP.match(message)
        return found.group(2) if found else None


class SecretNotFound(BuildError):
    """A build step mounts a secret the build was not given."""

    def __init__(self, step: str | None, detail: str) -> None:
        self.step = step
        where = f" in step {step!r}" if step else ""
        hint = "give the build that secret (id=NAME,src=PATH)"
        super().__init__(f"build secret not found{where}: {detail}", hint)


class SecretFileMissing(CogkitError):
    """A secret's source file (src=) does not exist."""

    def __init__(self, secret_id: str, src: str) -> None:
        self.secret_id = secret_id
        self.src = src
        super().__init__(f"secret {secret_id!r}: source file {src} does not exist", "fix the secret's src=")


class CacheOptionError(CogkitError):
    """A cache import/export the engine cannot do. `direction` is "import" or "export"."""

    def __init__(self, message: str, hint: str, direction: str, cache_type: str) -> None:
        self.direction = direction
        self.cache_type = cache_type
        super().__init__(message, hint)
