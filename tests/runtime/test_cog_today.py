"""Cog 0.2x's Python API over real HTTP: `run:` + BaseRunner, metrics, context and the newer types.

One real server process per fixture, a real worker child, real sockets (as test_http_server.py).
"""

from __future__ import annotations

import pytest
from http_harness import ServerProcess


@pytest.fixture(scope="module")
def today():
    with ServerProcess("cog_today") as srv:  # predictor from cog.yaml's `run:` key
        srv.wait_ready()
        yield srv


def predict(srv: ServerProcess, body: dict) -> dict:
    r = srv.call("POST", "/predictions", body)
    assert r.status == 200, r.body
    return r.json


def test_run_key_and_base_runner_run(today):
    body = predict(today, {"input": {"mode": "hello"}})
    assert body["status"] == "succeeded" and body["output"] == "hello"


def test_dotted_metrics_nest_and_emit_metric_still_works(today):
    body = predict(today, {"input": {"mode": "metrics"}})
    assert body["status"] == "succeeded", body["error"]
    metrics = body["metrics"]
    assert metrics["timing"] == {"preprocess": 1.5, "inference": 2}
    assert metrics["tokens"] == 7 and metrics["legacy"] == 7
    assert "gone" not in metrics and metrics["predict_time"] > 0
    assert "emit_metric() is deprecated" in body["logs"]  # the notice is a line of the prediction's log


@pytest.mark.parametrize(("name", "message"), [
    ("1bad", "metric name segment '1bad' must start with a letter"),
    ("cog.mine", "the 'cog.' prefix is reserved for system metrics"),
    ("predict_time", "'predict_time' is reserved by the runtime"),
])
def test_invalid_metric_names_fail_the_prediction(today, name, message):
    body = predict(today, {"input": {"mode": "metrics", "metric": name}})
    assert body["status"] == "failed"
    assert message in body["error"]


def test_request_context_reaches_current_scope(today):
    context = {"replicate_api_token": "r8_x", "a": "b"}
    body = predict(today, {"input": {"mode": "context"}, "context": context})
    assert body["output"] == {"replicate_api_token": "r8_x", "a": "b"}
    assert predict(today, {"input": {"mode": "context"}})["output"] == {}


def test_dict_typeddict_optional_and_union_inputs(today):
    inputs = {
        "mode": "types", "options": {"k": [1, 2]}, "rows": [{"a": 1}, {}], "point": {"x": 1, "label": "p"},
        "either": "3", "mixed": [1, "1"],
    }
    out = predict(today, {"input": inputs})["output"]
    assert out["options"] == {"k": [1, 2]} and out["rows"] == [{"a": 1}, {}]
    assert out["point"] == {"x": 1, "label": "p"}
    assert out["maybe"] is None  # Optional without a default: omitted means None
    assert out["either"] == ["3", "str"]  # a union passes the JSON value through as it is
    assert out["mixed"] == [[1, "int"], ["1", "str"]]
    out = predict(today, {"input": {"mode": "types", "either": 3, "maybe": 5}})["output"]
    assert out["either"] == [3, "int"] and out["maybe"] == 5


@pytest.mark.parametrize(("field", "value"), [
    ("either", 1.5), ("either", True), ("either", None), ("mixed", [1, 2.5]), ("options", [1]), ("rows", [1]),
])
def test_values_cog_refuses_are_422(today, field, value):
    r = today.call("POST", "/predictions", {"input": {"mode": "types", field: value}})
    assert r.status == 422, r.body
    assert r.json["detail"][0]["loc"][:3] == ["body", "input", field]


def test_schema_of_the_newer_types(today):
    schema = today.call("GET", "/openapi.json").json["components"]["schemas"]
    props, required = schema["Input"]["properties"], schema["Input"].get("required", [])
    assert props["options"]["type"] == "object" and props["rows"]["items"] == {"type": "object"}
    assert props["point"]["type"] == "object" and props["point"]["nullable"] is True
    assert props["maybe"] == {"type": "integer", "nullable": True, "title": "Maybe",
                              "description": "optional, no default", "x-order": 4}
    assert props["either"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert props["mixed"]["items"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert "maybe" not in required and "point" not in required


@pytest.mark.parametrize(("ref", "expected"), [
    ("typed.py:NoneInt", None),
    ("typed.py:NoneStr", None),
    ("typed.py:Typed", {"total": 2, "names": ["a", "a"]}),
])
def test_outputs_none_from_typed_returns_and_typeddict(ref, expected):
    with ServerProcess("cog_today", env={"COG_PREDICTOR": ref}) as srv:
        srv.wait_ready()
        body = predict(srv, {"input": {}})
        assert body["status"] == "succeeded", body["error"]
        assert body["output"] == expected
        if ref.endswith("Typed"):
            out = srv.call("GET", "/openapi.json").json["components"]["schemas"]["Output"]
            assert out["required"] == ["total", "names"]
            names = {"type": "array", "items": {"type": "string"}, "title": "Names"}
            assert out["properties"]["names"] == names


def test_sys_exit_names_systemexit_and_the_worker_keeps_serving(today):
    body = predict(today, {"input": {"mode": "exit"}})
    assert body["status"] == "failed" and body["error"] == "Prediction failed: SystemExit: 3"
    assert today.health()["status"] == "READY"
    assert predict(today, {"input": {"mode": "hello"}})["output"] == "hello"


def test_repeated_cancel_while_ending_answers_200_then_404(today):
    """As coglet: every cancel while the id is in flight is 200 and is delivered again (it interrupts
    cleanup code handling the first one); once the prediction is over the id is unknown: 404."""
    import threading
    import time

    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(
        r=today.call("POST", "/predictions", {"id": "twice", "input": {"mode": "cleanup"}})))
    worker.start()
    today.wait_status("BUSY", timeout=10)
    time.sleep(0.3)
    begin = time.monotonic()
    assert today.call("POST", "/predictions/twice/cancel").status == 200
    time.sleep(0.5)  # the predictor is now in its 5 s cleanup
    assert today.call("POST", "/predictions/twice/cancel").status == 200
    worker.join(10)
    body = result["r"].json
    assert body["status"] == "canceled" and "cleaning up" in body["logs"]
    assert time.monotonic() - begin < 4  # the second cancel cut the cleanup short
    assert today.call("POST", "/predictions/twice/cancel").status == 404
