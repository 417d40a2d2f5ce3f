"""Entry parsing (pure): every malformed shape becomes a Job with an error, never an exception."""

from __future__ import annotations

import pytest

from cogkit.runtime.queue.protocol import encode_request, parse_entry
from cogkit.runtime.types import PredictionRequest


def test_request_round_trips_and_omits_unset_fields():
    body = encode_request(PredictionRequest(id="p1", input={"a": 1}))
    assert body == b'{"input":{"a":1},"id":"p1"}'
    job = parse_entry("s", b"1-0", {b"request": body, b"id": b"p1"})
    assert (job.prediction_id, job.error, job.request.input) == ("p1", None, {"a": 1})


def test_missing_id_is_derived_from_the_entry_so_a_reclaim_maps_to_the_same_prediction():
    job = parse_entry("jobs", "17-3", {"request": '{"input": {}}'})
    assert job.prediction_id == "jobs-17-3" and job.request.id == "jobs-17-3" and job.error is None


@pytest.mark.parametrize(
    ("fields", "pid", "fragment"),
    [
        ({b"request": b"{nope", b"id": b"x"}, "x", "invalid JSON"),
        ({b"request": b"[1, 2]", b"id": b"x"}, "x", "Expected `object`"),
        ({b"request": b'{"input": 5}', b"id": b"x"}, "x", "at `$.input`"),
        ({b"request": b'{"id": "x"}'}, "x", "`input` is required"),
        ({b"id": b"x"}, "x", "no `request` field"),
        ({b"request": b'{"id": "y", "input": {}}', b"id": b"x"}, "x", "does not match"),
        ({b"request": b'{"input": {}, "webhook": "ftp://h/x"}', b"id": b"x"}, "x", "http(s) URL"),
        ({b"request": b'{"input": {}, "webhook_events_filter": ["nope"]}', b"id": b"x"}, "x", "nope"),
        ({b"request": b"\xff\xfe", b"id": b"x"}, "x", "malformed"),
    ],
)
def test_malformed_entries_become_failed_jobs(fields, pid, fragment):
    job = parse_entry("s", b"1-0", fields)
    assert job.prediction_id == pid
    assert job.error is not None and fragment in job.error


def test_cog_legacy_value_field_is_accepted():
    job = parse_entry("s", b"1-0", {b"value": b'{"input": {"x": 1}}', b"id": b"old"})
    assert job.error is None and job.request.input == {"x": 1}


def test_cog_legacy_positional_arguments_translate_to_flags():
    from cogkit.runtime.queue.entrypoint import parse_args

    args = parse_args(["redis", "6380", "my-queue", "https://up.example/x/", "worker-1", "model", "logs"])
    assert (args.redis, args.stream, args.upload_url, args.consumer) == (
        "redis://redis:6380/0",
        "my-queue",
        "https://up.example/x/",
        "worker-1",
    )
    assert parse_args(["--stream", "s"]).stream == "s"


@pytest.mark.parametrize(
    "body",
    [b'{"id": "p1", "input": "hello"}', b'{"id": "p1", "input": {}, "webhook_events_filter": "completed"}'],
)
def test_an_invalid_request_keeps_the_id_of_its_json(body):
    job = parse_entry("s", b"1-0", {b"request": body})
    assert job.prediction_id == "p1" and job.error is not None
