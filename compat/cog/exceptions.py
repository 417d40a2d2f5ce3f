"""Exceptions user code may see from the runtime."""

from __future__ import annotations


class CancelationException(BaseException):
    """Raised inside a sync predict() when its prediction is canceled.

    A BaseException (as in current Cog) so that a broad `except Exception:` in user code
    cannot swallow the cancellation.
    """


class ExperimentalFeatureWarning(Warning):
    """Kept for import compatibility with Cog; cogkit does not emit it."""
