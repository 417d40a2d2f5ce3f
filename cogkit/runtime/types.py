"""Wire types of the Cog prediction API, as msgspec Structs.

Cog clients see exactly these shapes (cog 0.16 `schema.py` field names). msgspec decodes and
encodes them in a few microseconds and without pydantic, which keeps the per-request cost of
the HTTP server and the Redis queue worker near the framework floor.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

import msgspec

from cogkit.runtime.events import SetupResult

# Prediction statuses (Cog's `Status` enum values; a worker's states are events.WorkerState).
STARTING = "starting"
PROCESSING = "processing"
SUCCEEDED = "succeeded"
CANCELED = "canceled"
FAILED = "failed"
TERMINAL_STATUSES = frozenset((SUCCEEDED, CANCELED, FAILED))

WebhookEvent = Literal["start", "output", "logs", "completed"]
ALL_WEBHOOK_EVENTS: tuple[str, ...] = ("start", "output", "logs", "completed")


class PredictionRequest(msgspec.Struct, kw_only=True):
    """Body of POST/PUT /predictions (and /trainings); unknown top-level keys are ignored as Cog does."""

    input: dict[str, Any] | None = None
    id: str | None = None
    created_at: str | None = None
    context: dict[str, str] | None = None
    output_file_prefix: str | None = None
    webhook: str | None = None
    webhook_events_filter: list[WebhookEvent] | None = None


class PredictionResponse(msgspec.Struct, kw_only=True):
    """The live state of one prediction; the runner mutates it and the transports encode it."""

    id: str | None = None
    input: dict[str, Any] | None = None
    output: Any = None
    logs: str = ""
    error: str | None = None
    status: str = STARTING
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    version: str | None = None
    metrics: dict[str, Any] | None = None


class HealthCheck(msgspec.Struct, kw_only=True):
    status: str
    setup: SetupResult | None = None


class UnhealthyCheck(HealthCheck, kw_only=True):
    """/health-check while the predictor's healthcheck() fails (status UNHEALTHY, as Cog's)."""

    user_healthcheck_error: str


def now_iso() -> str:
    """UTC timestamp in Cog's format (isoformat with +00:00)."""
    return datetime.now(timezone.utc).isoformat()  # noqa: UP017 - the image's Python may be 3.10


# Shared encoder: one instance avoids per-call setup. Unknown objects (e.g. pathlib.Path that
# escaped file handling, sets, numpy scalars exposing .item()) degrade to something JSON-able.
def _enc_hook(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if hasattr(obj, "__fspath__"):
        return str(obj)
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


json_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
request_decoder = msgspec.json.Decoder(PredictionRequest)


def is_webhook_url(url: str) -> bool:
    """A webhook the server and the queue accept, as Cog does: http(s), at most 65,536 characters."""
    if len(url) > 65536 or not url.startswith(("http://", "https://")):
        return False
    from urllib.parse import urlsplit

    try:
        return bool(urlsplit(url).hostname)
    except ValueError:
        return False
