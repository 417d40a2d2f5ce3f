"""User-facing errors: one clear line plus a hint, never a traceback.

Every failure a user can cause (bad config, unreachable engine, bad input) is raised as a
CogkitError; the CLI prints `error: <message>` and `hint: <hint>` and exits non-zero.
"""

from __future__ import annotations


class CogkitError(Exception):
    """An error caused by input or environment, reported to the user without a traceback."""

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        text = f"error: {self.message}"
        if self.hint:
            text += f"\nhint: {self.hint}"
        return text


class ConfigError(CogkitError):
    """cog.yaml is missing or invalid."""


class EngineError(CogkitError):
    """The build engine (dockerd or buildkitd) is unreachable or refused the request."""


class BuildError(CogkitError):
    """A build step failed."""


class InputError(CogkitError):
    """A prediction input is invalid."""
