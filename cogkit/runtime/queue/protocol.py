"""The Redis wire protocol of the prediction queue: key names, entry fields, entry parsing.

Everything a client or another implementation needs to interoperate lives here, so the
worker, the client and docs/queue.md cannot drift apart:

- a job is an entry on the queue stream whose `request` field is a Cog PredictionRequest as
  JSON (an optional `id` field attributes even an unparsable request to its prediction);
- every key of a prediction carries the stream's hash tag, so that the stream and all of them
  live in one Redis Cluster slot (the scripts touch several at once):
  `prediction:{<tag>}:<id>` holds the prediction's state (the HTTP response JSON) with a TTL,
  `...:events` is a stream of updates, each carrying the full state, `...:cancel` existing
  means "cancel this prediction", `...:lease` names the worker currently running it;
  `<tag>` is the stream's own hash tag if its name has one (`{q}jobs` -> `q`), else its name;
- `<stream>:schema` holds the model's OpenAPI schema (written by every worker at start);
- on a standalone Redis the worker also keeps the names of the first layout working: the
  terminal state is copied to `prediction:<id>` and `prediction:<id>:cancel` is honoured.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import msgspec

from cogkit.runtime.queue.defaults import (  # noqa: F401  (re-exported)
    CANCEL_TTL,
    DEFAULT_EVENTS_MAXLEN,
    DEFAULT_GROUP,
    DEFAULT_STATE_TTL,
    DEFAULT_STREAM,
)
from cogkit.runtime.types import (
    ALL_WEBHOOK_EVENTS,
    FAILED,
    TERMINAL_STATUSES,
    PredictionRequest,
    PredictionResponse,
    is_webhook_url,
    json_encoder,
    now_iso,
)

REQUEST_FIELD = "request"
LEGACY_REQUEST_FIELD = "value"  # what Cog's own redis_queue (removed in 0.7) read
ID_FIELD = "id"
EVENT_FIELD = "event"
STATE_FIELD = "state"


__all__ = [
    "TERMINAL_STATUSES",
    "Job",
    "cancel_key",
    "check_stream_name",
    "encode_state",
    "events_key",
    "failed_state",
    "hash_tag",
    "key_prefix",
    "lease_key",
    "legacy_cancel_key",
    "legacy_state_key",
    "parse_entry",
    "state_key",
]


def schema_key(stream: str) -> str:
    """The model's OpenAPI schema, published by workers so clients can type `-i` values."""
    return f"{stream}:schema"


def hash_tag(stream: str) -> str:
    """What Redis Cluster hashes for the stream's key: its `{tag}` if it has one, else all of it."""
    start = stream.find("{")
    if start != -1:
        end = stream.find("}", start + 1)
        if end > start + 1:
            return stream[start + 1 : end]
    return stream


def check_stream_name(stream: str) -> None:
    """A name whose braces Redis would hash differently from our `{tag}` prefix is refused."""
    tag = hash_tag(stream)
    if not stream or "}" in tag or (tag == stream and "{" in stream and "}" in stream):
        raise ValueError(
            f"stream name {stream!r}: use braces only as one Redis hash tag, e.g. '{{q}}predictions'"
        )


@functools.lru_cache(maxsize=64)
def key_prefix(stream: str) -> str:
    """`prediction:{<tag>}:`: every per-prediction key of this stream starts with it."""
    return f"prediction:{{{hash_tag(stream)}}}:"


def state_key(stream: str, prediction_id: str) -> str:
    return key_prefix(stream) + prediction_id


def events_key(stream: str, prediction_id: str) -> str:
    return f"{key_prefix(stream)}{prediction_id}:events"


def cancel_key(stream: str, prediction_id: str) -> str:
    return f"{key_prefix(stream)}{prediction_id}:cancel"


def lease_key(stream: str, prediction_id: str) -> str:
    return f"{key_prefix(stream)}{prediction_id}:lease"


def legacy_state_key(prediction_id: str) -> str:
    """The first layout's state key (standalone Redis only: it hashes apart from the stream)."""
    return f"prediction:{prediction_id}"


def legacy_cancel_key(prediction_id: str) -> str:
    return f"prediction:{prediction_id}:cancel"


@dataclass(slots=True)
class Job:
    """One queue entry, parsed. `error` set means the entry is malformed and must end as failed."""

    entry_id: str
    prediction_id: str
    request: PredictionRequest | None
    error: str | None = None


_decoder = msgspec.json.Decoder(PredictionRequest)


def _text(value: bytes | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.decode("utf-8", "replace")


def parse_entry(stream: str, entry_id: bytes | str, fields: dict[Any, Any]) -> Job:
    """Turn a raw stream entry into a Job; never raises, so a bad entry cannot wedge the worker.

    A request without an id gets one derived from the stream and entry id: a reclaimed entry
    must map to the same prediction, or the "never run twice" check could not work.
    """
    entry = _text(entry_id) or ""
    raw = {_text(k): v for k, v in fields.items()}
    given_id = _text(raw.get(ID_FIELD))
    fallback_id = given_id or f"{stream}-{entry}"
    body = raw.get(REQUEST_FIELD, raw.get(LEGACY_REQUEST_FIELD))
    if body is None:
        return Job(entry, fallback_id, None, f"malformed queue entry: no `{REQUEST_FIELD}` field")
    try:
        request = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        # Valid JSON, wrong shape: the client still waits under the id it wrote in the JSON.
        pid = given_id or _json_id(body) or fallback_id
        return Job(entry, pid, None, f"malformed prediction request: {exc}")
    except msgspec.DecodeError as exc:
        return Job(entry, fallback_id, None, f"malformed prediction request: invalid JSON ({exc})")
    if given_id and request.id and request.id != given_id:
        return Job(
            entry, given_id, request, f"entry id {given_id!r} does not match request id {request.id!r}"
        )
    request.id = request.id or fallback_id
    if request.input is None:
        return Job(entry, request.id, request, "malformed prediction request: `input` is required")
    if request.webhook is not None and not is_webhook_url(request.webhook):
        return Job(
            entry, request.id, request, f"webhook must be an http(s) URL, got {request.webhook[:200]!r}"
        )
    if request.webhook_events_filter is not None:
        unknown = set(request.webhook_events_filter) - set(ALL_WEBHOOK_EVENTS)
        if unknown:
            return Job(entry, request.id, request, f"unknown webhook events: {sorted(unknown)}")
    return Job(entry, request.id, request)


def _json_id(body: bytes | str) -> str | None:
    """The `id` of a request body that decodes as JSON but not as a PredictionRequest."""
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    value = doc.get("id") if isinstance(doc, dict) else None
    return value if isinstance(value, str) and value else None


def failed_state(job: Job, error: str) -> PredictionResponse:
    """The terminal state of a prediction that never reached the predictor."""
    now = now_iso()
    request = job.request
    return PredictionResponse(
        id=job.prediction_id,
        input=request.input if request else None,
        status=FAILED,
        error=error,
        created_at=(request.created_at if request else None) or now,
        completed_at=now,
    )


def encode_state(state: PredictionResponse | dict[str, Any]) -> bytes:
    """The same JSON the HTTP server returns for this prediction."""
    return json_encoder.encode(state)


def encode_request(request: PredictionRequest) -> bytes:
    """A request as a client puts it on the queue (omitting unset fields keeps entries small)."""
    payload = {f: getattr(request, f) for f in request.__struct_fields__ if getattr(request, f) is not None}
    return json_encoder.encode(payload)
