"""Worker end to end: a real child process per test, real sockets, real signals."""

from __future__ import annotations

import asyncio
import os
import pathlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cogkit.runtime import worker as worker_module
from cogkit.runtime.events import Done, Log, Metric, Output, OutputChunk
from cogkit.runtime.slots import Busy
from cogkit.runtime.worker import PredictionEvents, Worker, WorkerUnavailable

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def run(coro_fn: Callable[[], Awaitable[Any]], timeout: float = 60) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro_fn(), timeout)

    return asyncio.run(bounded())


async def started(ref: str, **kwargs: Any) -> Worker:
    worker = Worker(ref, cwd=FIXTURES, **kwargs)
    await worker.start()
    return worker


async def collect(events: Any) -> list[Any]:
    return [event async for event in events]


def logs_of(events: list[Any], source: str | None = None) -> str:
    return "".join(e.text for e in events if isinstance(e, Log) and (source is None or e.source == source))


def done_of(events: list[Any]) -> Done:
    assert isinstance(events[-1], Done), events
    return events[-1]


def output_of(events: list[Any]) -> Any:
    outputs = [e.value for e in events if isinstance(e, Output)]
    assert len(outputs) == 1, events
    return outputs[0]


def chunks_of(events: list[Any]) -> list[Any]:
    return [e.value for e in events if isinstance(e, OutputChunk)]


# --- basics -------------------------------------------------------------------------------------


def test_sync_prediction_returns_output_and_frees_slot_before_done() -> None:
    async def scenario() -> None:
        worker = await started("outputs.py:out_str")
        try:
            assert worker.state == "READY"
            assert worker.setup is not None and worker.setup.status == "succeeded"
            events = worker.predict("p1", {"text": "world"})
            assert worker.state == "BUSY"
            seen = []
            async for event in events:
                if isinstance(event, Done):
                    assert worker.state == "READY"  # capacity is back before Done is seen
                seen.append(event)
            assert output_of(seen) == "hello world"
            assert done_of(seen).status == "succeeded"
            assert done_of(seen).predict_time > 0
            # back to back, many times: never busy
            for i in range(200):
                assert output_of(await collect(worker.predict(f"q{i}", {"text": str(i)}))) == f"hello {i}"
        finally:
            await worker.stop()

    run(scenario)


def test_defaults_from_input_are_applied_in_the_child() -> None:
    async def scenario() -> None:
        worker = await started("outputs.py:out_iter")
        try:
            assert chunks_of(await collect(worker.predict("p", {}))) == ["chunk 0", "chunk 1", "chunk 2"]
            # unknown inputs that reach the worker unvalidated are ignored, as Cog does
            assert chunks_of(await collect(worker.predict("q", {"n": 1, "nope": 2}))) == ["chunk 0"]
        finally:
            await worker.stop()

    run(scenario)


def test_every_input_type_reaches_predict_as_the_declared_type(tmp_path: pathlib.Path) -> None:
    image = tmp_path / "image.png"
    image.write_text("png bytes")
    doc = tmp_path / "doc.txt"
    doc.write_text("document")
    inputs = {
        "text": "hello",
        "image": str(image),
        "doc": str(doc),
        "token": "s3cret",
        "paths": [str(image), str(doc)],
        "either": [1, 2],
        "size": "large",
    }

    async def scenario() -> None:
        worker = await started("inputs.py:Predictor")
        try:
            events = await collect(worker.predict("p", inputs))
            assert done_of(events).status == "succeeded", done_of(events)
            out = output_of(events)
        finally:
            await worker.stop()
        assert out["image"] == ["Path", "png bytes"]
        assert out["doc"] == "document"
        assert out["token"] == ["Secret('**********')", "s3cret"]
        assert out["paths"] == ["Path", "Path"]
        assert out["count"] == 3 and out["ratio"] == 0.5 and out["flag"] is False
        assert out["numbers"] == [1, 2] and out["maybe"] is None and out["newer"] is None
        assert out["either"] == [1, 2] and out["size"] == "large" and out["old"] == "x"

    run(scenario)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("outputs.py:out_int", 42),
        ("outputs.py:out_float", 1.5),
        ("outputs.py:out_bool", True),
        ("outputs.py:out_list", [1, 2, 3]),
        ("outputs.py:out_dict", {"a": 1, "nested": {"b": [1, 2]}}),
        ("outputs.py:out_any", {"untyped": True}),
        ("outputs.py:out_anything", [1, "two"]),
        ("outputs.py:out_async_str", "async x"),
    ],
)
def test_plain_outputs(ref: str, expected: Any) -> None:
    async def scenario() -> Any:
        worker = await started(ref)
        try:
            return output_of(await collect(worker.predict("p", {})))
        finally:
            await worker.stop()

    assert run(scenario) == expected


def test_file_outputs_arrive_as_local_paths() -> None:
    async def scenario() -> dict[str, Any]:
        results = {}
        for name in ("out_path", "out_file", "out_list_paths", "out_model", "out_model_file"):
            ref = f"outputs.py:{name}"
            worker = await started(ref)
            try:
                results[name] = output_of(await collect(worker.predict("p", {})))
                if name == "out_file":  # the spilled copy lives in the worker's output dir ...
                    assert worker.output_dir and str(results[name]).startswith(worker.output_dir)
                    results["out_file_text"] = results[name].read_text()
                if name == "out_model_file":
                    results["model_file_text"] = results[name]["file"].read_text()
            finally:
                await worker.stop()
            if name == "out_file":  # ... which stop() removes
                results["spilled_after_stop"] = results[name].exists()
        return results

    results = run(scenario)
    assert isinstance(results["out_path"], pathlib.Path)
    assert not results.pop("spilled_after_stop")
    assert results["out_path"].read_text() == "file content"
    assert isinstance(results["out_file"], pathlib.Path)
    assert results["out_file"].name == "named.txt"
    assert results["out_file_text"] == "from a StringIO"
    assert [p.read_text() for p in results["out_list_paths"]] == ["a", "b"]
    model = results["out_model"]
    assert model["text"] == "hi" and model["score"] == 0.5 and model["note"] is None
    assert isinstance(model["image"], pathlib.Path) and model["image"].read_text() == "pixels"
    assert results["out_model_file"]["text"] == "hi"
    assert results["model_file_text"] == "inside a model"


def test_iterators_stream_chunks_in_order() -> None:
    async def scenario() -> dict[str, list[Any]]:
        results = {}
        for ref in (
            "outputs.py:out_iter",
            "outputs.py:out_concat",
            "outputs.py:out_async_iter",
            "outputs.py:out_iter_paths",
            "outputs.py:out_model_list",
            "outputs.py:out_generator_untyped",
            "outputs.py:out_async_concat",
        ):
            worker = await started(ref)
            try:
                events = await collect(worker.predict("p", {}))
                assert not [e for e in events if isinstance(e, Output)]
                assert done_of(events).status == "succeeded"
                results[ref.split(":")[1]] = chunks_of(events)
            finally:
                await worker.stop()
        return results

    results = run(scenario)
    assert results["out_iter"] == ["chunk 0", "chunk 1", "chunk 2"]
    assert results["out_concat"] == ["The", " quick", " fox"]
    assert results["out_async_iter"] == [0, 1, 2]
    assert [p.read_text() for p in results["out_iter_paths"]] == ["1", "2"]
    assert results["out_model_list"] == [[{"name": "a", "tags": ["x"]}, {"name": "b", "tags": []}]]
    assert results["out_generator_untyped"] == [0, 1, 2]
    assert results["out_async_concat"] == ["Hello", ",", " world"]


def test_wrong_output_type_fails_the_prediction_only() -> None:
    async def scenario() -> None:
        worker = await started("outputs.py:out_wrong")
        try:
            done = done_of(await collect(worker.predict("p", {})))
            assert done.status == "failed"
            assert "expected int" in (done.error or "")
            assert worker.state == "READY"
        finally:
            await worker.stop()

    run(scenario)


def test_exception_in_predict_fails_prediction_with_traceback_in_logs() -> None:
    async def scenario() -> None:
        worker = await started("crashes.py:raise_in_predict")
        try:
            events = await collect(worker.predict("p", {"message": "kaboom"}))
            done = done_of(events)
            assert done.status == "failed" and done.error == "kaboom"
            assert "before the error" in logs_of(events, "stdout")
            assert "ValueError: kaboom" in logs_of(events, "stderr")
            again = await collect(worker.predict("p2", {"message": "again"}))
            assert done_of(again).error == "again"
            assert worker.state == "READY"
        finally:
            await worker.stop()

    run(scenario)


# --- capture ------------------------------------------------------------------------------------


def test_fd_level_capture_of_c_writes_and_subprocesses() -> None:
    async def scenario() -> None:
        worker = await started("capture.py:Predictor")
        try:
            assert worker.setup is not None
            assert "setup via fd 1" in worker.setup.logs
            assert "setup subprocess" in worker.setup.logs
            events = await collect(worker.predict("p", {}))
            out = logs_of(events, "stdout")
            err = logs_of(events, "stderr")
            for text in ("python print", "raw fd 1", "from C printf", "from a subprocess"):
                assert text in out, out
            assert out.endswith("no newline at the end")  # flushed before Done
            assert "raw fd 2" in err and "subprocess stderr" in err
            assert "via the logging module" in err
            assert output_of(events) == "captured"
            # nothing leaks into the next prediction
            events = await collect(worker.predict("p2", {}))
            assert logs_of(events).count("python print") == 1
        finally:
            await worker.stop()

    run(scenario)


def test_a_line_written_in_pieces_is_one_log_event(monkeypatch: pytest.MonkeyPatch) -> None:
    # a loaded machine may stall the writer between two pieces for longer than the usual 50 ms
    monkeypatch.setattr(worker_module, "PARTIAL_LINE_WAIT", 5.0)

    async def scenario() -> None:
        worker = await started("capture.py:Pieces")
        try:
            events = await collect(worker.predict("p", {"n": 20}))
            texts = [e.text for e in events if isinstance(e, Log)]
            assert "".join(texts) == "".join(f"item {i}\n" for i in range(20))
            assert all(text.endswith("\n") for text in texts), texts
        finally:
            await worker.stop()

    run(scenario)


def test_an_unfinished_log_line_is_handed_on_after_a_short_wait() -> None:
    async def scenario() -> None:
        worker = await started("capture.py:Pieces")
        try:
            arrived: list[tuple[float, Any]] = []
            async for event in worker.predict("p", {"n": 0, "prompt_wait": 1.5}):
                arrived.append((time.monotonic(), event))
            logs = [(at, event.text) for at, event in arrived if isinstance(event, Log)]
            assert [text for _at, text in logs] == ["prompt> "]
            done_at, done = arrived[-1]
            assert isinstance(done, Done) and done.status == "succeeded"
            assert done_at - logs[0][0] > 0.7, "the unfinished line waited for Done instead of ~50 ms"
        finally:
            await worker.stop()

    run(scenario)


def test_prediction_events_join_pieces_but_never_hold_a_line_past_another_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        events = PredictionEvents("p")
        monkeypatch.setattr(worker_module, "PARTIAL_LINE_WAIT", 5.0)
        events._push(Log("item", "stdout"))
        waiting = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.05)
        assert not waiting.done(), "an unfinished line was handed on at once"
        events._push(Log(" 0\n", "stdout"))
        assert await waiting == Log("item 0\n", "stdout")
        events._push(Log("a\nb", "stdout"))  # a line, and the start of the next
        assert await anext(events) == Log("a\n", "stdout")
        waiting = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        events._push(Log("c\n", "stdout"))
        assert await waiting == Log("bc\n", "stdout")
        events._push(Log("partial", "stdout"))
        events._push(Output("x"))  # another event: the unfinished line goes first, as it is
        assert [await anext(events), await anext(events)] == [Log("partial", "stdout"), Output("x")]
        events._push(Log("50%\r", "stderr"))  # a progress bar's line
        assert await anext(events) == Log("50%\r", "stderr")
        monkeypatch.setattr(worker_module, "PARTIAL_LINE_WAIT", 0.2)
        events._push(Log("prompt> ", "stdout"))
        started = time.monotonic()
        assert await anext(events) == Log("prompt> ", "stdout")
        assert time.monotonic() - started >= 0.19
        events._push(Done(status="succeeded"))
        assert [event async for event in events] == [Done(status="succeeded")]

    run(scenario)


# --- cancellation -------------------------------------------------------------------------------


async def _cancel_after_first_log(worker: Worker, prediction_id: str, inputs: dict[str, Any]) -> tuple[
        list[Any], float]:
    events = []
    canceled_at = None
    async for event in worker.predict(prediction_id, inputs):
        events.append(event)
        if canceled_at is None and isinstance(event, Log):
            canceled_at = time.monotonic()
            assert worker.cancel(prediction_id)
    assert canceled_at is not None
    return events, time.monotonic() - canceled_at


@pytest.mark.parametrize("ref", ["sleepers.py:SyncSleep", "sleepers.py:AsyncSleep"])
def test_cancel_running_prediction(ref: str) -> None:
    async def scenario() -> None:
        worker = await started(ref)
        try:
            events, elapsed = await _cancel_after_first_log(worker, "c1", {"seconds": 30})
            assert done_of(events).status == "canceled"
            assert elapsed < 10
            assert worker.state == "READY"
            assert not worker.cancel("c1")  # no longer running
            follow = await collect(worker.predict("c2", {"seconds": 0.01}))
            assert done_of(follow).status == "succeeded"
        finally:
            await worker.stop()

    run(scenario)


def test_sync_cancel_is_not_swallowed_by_except_exception_and_runs_cleanup() -> None:
    async def scenario() -> None:
        worker = await started("sleepers.py:SyncSwallow")
        try:
            events = worker.predict("s", {"seconds": 30})
            await asyncio.sleep(0.3)
            worker.cancel("s")
            assert done_of(await collect(events)).status == "canceled"
        finally:
            await worker.stop()
        worker = await started("sleepers.py:SyncCleanup")
        try:
            events = worker.predict("s", {"seconds": 30})
            await asyncio.sleep(0.3)
            worker.cancel("s")
            seen = await collect(events)
            assert done_of(seen).status == "canceled"
            assert "cleaning up" in logs_of(seen)
        finally:
            await worker.stop()

    run(scenario)


@pytest.mark.parametrize("ref", ["sleepers.py:SyncFlood", "sleepers.py:AsyncFlood"])
def test_cancel_arrives_under_a_log_flood(ref: str) -> None:
    """The cancel channel is separate: a consumer that reads slowly still cancels promptly."""

    async def scenario() -> None:
        worker = await started(ref)
        try:
            events = worker.predict("flood", {})
            first = await events.__anext__()
            assert isinstance(first, Log)
            await asyncio.sleep(0.5)  # let the backlog build up without reading it
            sent = time.monotonic()
            assert worker.cancel("flood")
            total = len(first.text)
            done = None
            async for event in events:
                if isinstance(event, Log):
                    total += len(event.text)
                    await asyncio.sleep(0)  # a consumer doing a little work per event
                elif isinstance(event, Done):
                    done = event
            elapsed = time.monotonic() - sent
            assert done is not None and done.status == "canceled"
            assert total > 100_000  # it really was a flood
            assert elapsed < 5, f"cancel took {elapsed:.2f}s"  # generous bound; see benchmarks for speed
            assert worker.state == "READY"
        finally:
            await worker.stop()

    run(scenario)


@pytest.mark.parametrize("ref", ["sleepers.py:SyncSleep", "sleepers.py:AsyncSleep"])
def test_cancel_before_it_starts_and_unknown_ids(ref: str) -> None:
    async def scenario() -> None:
        worker = await started(ref)
        try:
            assert not worker.cancel("nope")
            events = worker.predict("early", {"seconds": 30})
            assert worker.cancel("early")  # sent immediately, possibly before predict() runs
            assert done_of(await collect(events)).status == "canceled"
        finally:
            await worker.stop()

    run(scenario)


# --- capacity and concurrency -------------------------------------------------------------------


def test_busy_and_concurrent_async_predictions() -> None:
    async def scenario() -> None:
        worker = await started("sleepers.py:AsyncSleep", concurrency=4)
        try:
            assert worker.is_async
            begin = time.monotonic()
            streams = [worker.predict(f"p{i}", {"seconds": 2.0}) for i in range(4)]
            assert worker.state == "BUSY"
            with pytest.raises(Busy):
                worker.predict("p5", {"seconds": 0})
            results = await asyncio.gather(*(collect(s) for s in streams))
            elapsed = time.monotonic() - begin
            assert elapsed < 6, f"4 x 2s predictions took {elapsed:.2f}s: not concurrent"
            for i, events in enumerate(results):
                assert output_of(events) == "slept 2.0"
                # logs are attributed to their own prediction
                assert logs_of(events) == "sleeping 2.0\n", (i, events)
            assert worker.state == "READY"
        finally:
            await worker.stop()

    run(scenario)


def test_sync_predictor_rejects_concurrency() -> None:
    async def scenario() -> None:
        worker = Worker("sleepers.py:SyncSleep", cwd=FIXTURES, concurrency=2)
        setup = await worker.start()
        assert setup.status == "failed"
        assert "requires an async predict()" in (setup.error or "")
        assert worker.state == "SETUP_FAILED"
        with pytest.raises(WorkerUnavailable):
            worker.predict("p", {})
        await worker.stop()

    run(scenario)


# --- process death ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("crashes.py:kill_in_predict", "killed by SIGKILL"),
        ("crashes.py:segfault_in_predict", "killed by SIGSEGV"),
    ],
)
def test_child_death_fails_prediction_and_worker_goes_defunct(ref: str, expected: str) -> None:
    async def scenario() -> None:
        worker = await started(ref)
        try:
            events = await collect(worker.predict("p", {}))
            done = done_of(events)
            assert done.status == "failed"
            assert expected in (done.error or ""), done.error
            for _ in range(200):  # generous: the exit is noticed asynchronously
                if worker.state == "DEFUNCT":
                    break
                await asyncio.sleep(0.05)
            assert worker.state == "DEFUNCT"
            with pytest.raises(WorkerUnavailable):
                worker.predict("again", {})
        finally:
            await worker.stop()

    run(scenario)


@pytest.mark.parametrize(("ref", "expected"), [
    ("crashes.py:exit_in_predict", "Prediction failed: SystemExit: 3"),
    ("crashes.py:async_exit_in_predict", "Prediction failed: SystemExit: 4"),
])
def test_sys_exit_in_predict_fails_that_prediction_naming_systemexit(ref: str, expected: str) -> None:
    """Cog 0.2x: the error is `SystemExit: <code>` and the worker keeps serving."""
    async def scenario() -> None:
        worker = await started(ref)
        try:
            for attempt in ("p1", "p2"):
                done = done_of(await collect(worker.predict(attempt, {})))
                assert done.status == "failed" and done.error == expected, done.error
                assert worker.state == "READY"
        finally:
            await worker.stop()

    run(scenario)


def test_parent_survives_sigkill_from_outside() -> None:
    async def scenario() -> None:
        worker = await started("sleepers.py:SyncSleep")
        try:
            events = worker.predict("p", {"seconds": 30})
            await asyncio.sleep(0.2)
            assert worker.pid is not None
            os.kill(worker.pid, 9)
            done = done_of(await collect(events))
            assert done.status == "failed" and "SIGKILL" in (done.error or "")
            assert worker.state == "DEFUNCT"
        finally:
            await worker.stop()

    run(scenario)


@pytest.mark.parametrize(
    ("ref", "error", "log_text"),
    [
        ("crashes.py:SetupFails", "weights are missing", "loading weights..."),
        ("crashes.py:ExitInSetup", "setup() failed", "exiting from setup"),
        ("crashes.py:KilledInSetup", "killed by SIGKILL", "dying in setup"),
        ("crashes.py:NoPredict", "has no predict() method", ""),
        ("missing_file.py:Predictor", "does not exist", ""),
        ("crashes.py:DoesNotExist", "does not define DoesNotExist", ""),
    ],
)
def test_setup_failures_report_logs_and_error(ref: str, error: str, log_text: str) -> None:
    async def scenario() -> None:
        worker = Worker(ref, cwd=FIXTURES)
        setup = await worker.start()
        try:
            assert setup.status == "failed"
            assert worker.state == "SETUP_FAILED"
            assert error in (setup.error or ""), setup
            assert log_text in setup.logs
            assert setup.started_at and setup.completed_at and setup.started_at <= setup.completed_at
        finally:
            await worker.stop()

    run(scenario)


def test_setup_stderr_and_traceback_are_in_setup_logs() -> None:
    async def scenario() -> None:
        worker = Worker("crashes.py:SetupFails", cwd=FIXTURES)
        setup = await worker.start()
        await worker.stop()
        assert "warning on stderr" in setup.logs
        assert "RuntimeError: weights are missing" in setup.logs

    run(scenario)


# --- weights, train, metrics, secrets -----------------------------------------------------------


def test_cog_weights_feeds_setup(tmp_path: pathlib.Path) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_text("W")

    async def one(ref: str, env: dict[str, str] | None) -> Any:
        worker = await started(ref, env=env)
        try:
            return output_of(await collect(worker.predict("p", {})))
        finally:
            await worker.stop()

    async def scenario() -> None:
        assert await one("weights.py:WeightsPath", {"COG_WEIGHTS": str(weights)}) == "Path:W"
        assert await one("weights.py:WeightsStr", {"COG_WEIGHTS": "https://example.invalid/w"}) == (
            "str:https://example.invalid/w"
        )
        assert await one("weights.py:WeightsPath", None) == "no weights"
        assert await one("weights.py:WeightsFile", {"COG_WEIGHTS": str(weights)}) == "file:W"

    run(scenario)


def test_train_returns_training_output() -> None:
    async def scenario() -> None:
        worker = Worker("train.py:train", mode="train", cwd=FIXTURES)
        await worker.start()
        try:
            events = await collect(worker.predict("t", {"steps": 3}))
            out = output_of(events)
            assert out["steps"] == 3
            assert out["weights"].read_bytes() == bytes([0, 1, 2])
            assert "step 2" in logs_of(events)
            assert worker.schema is not None
            assert "TrainingOutput" in worker.schema["components"]["schemas"]
        finally:
            await worker.stop()

    run(scenario)


@pytest.mark.parametrize("ref", ["metrics.py:SyncMetrics", "metrics.py:AsyncMetrics"])
def test_metrics_and_context(ref: str) -> None:
    async def scenario() -> list[Any]:
        worker = await started(ref)
        try:
            return await collect(worker.predict("m", {"n": 3}, context={"prefix": ">"}))
        finally:
            await worker.stop()

    events = run(scenario)
    metrics = {e.name: e.value for e in events if isinstance(e, Metric)}
    if ref.endswith("SyncMetrics"):
        assert output_of(events) == ">done"
        assert metrics == {"tokens": 3, "steps": 3, "trace": ["s", "s", "s"]}
    else:
        assert output_of(events) == ">3"
        assert metrics == {"n": 3}


def test_secret_is_redacted_in_logs_and_output() -> None:
    async def scenario() -> list[Any]:
        worker = await started("secret.py:Predictor")
        try:
            return await collect(worker.predict("s", {"token": "s3cret"}))
        finally:
            await worker.stop()

    events = run(scenario)
    assert done_of(events).status == "succeeded"
    assert "s3cret" not in logs_of(events)
    assert "Secret('**********') / **********" in logs_of(events)
    assert output_of(events) == "**********"


def test_child_process_stays_light() -> None:
    async def scenario() -> Any:
        worker = await started("environment.py:Predictor")
        try:
            return output_of(await collect(worker.predict("e", {})))
        finally:
            await worker.stop()

    out = run(scenario)
    assert out["heavy"] == []
    assert os.path.join("cogkit", "_compat", "cog") in out["cog_file"]


def test_stop_is_graceful_and_reaps_the_child() -> None:
    async def scenario() -> None:
        worker = await started("outputs.py:out_str")
        pid = worker.pid
        assert pid is not None
        await worker.stop()
        assert worker.returncode == 0
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        with pytest.raises(WorkerUnavailable):
            worker.predict("late", {})

    run(scenario)


# --- setup variants ---------------------------------------------------------------------------


def test_setup_variants_and_path_objects_as_inputs(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "input.bin"
    target.write_bytes(b"1")

    async def scenario() -> None:
        worker = await started("setups.py:AsyncSetupSyncPredict")
        try:
            assert "printed at import" in (worker.setup.logs if worker.setup else "")
            assert output_of(await collect(worker.predict("a", {}))) == "async setup ran"
        finally:
            await worker.stop()
        worker = await started("setups.py:SetupUsesAsyncioRun")
        try:
            # the server may hand over pathlib.Path objects for downloaded files
            out = output_of(await collect(worker.predict("b", {"path": target})))
            assert out == "loaded with asyncio.run: Path input.bin"
        finally:
            await worker.stop()
        worker = await started("setups.py:NoSetup")
        try:
            assert output_of(await collect(worker.predict("c", {"name": "bob"}))) == "hi bob"
        finally:
            await worker.stop()
        worker = await started("setups.py:Runner")  # newer Cog: BaseRunner.run()
        try:
            assert output_of(await collect(worker.predict("d", {"text": "fast"}))) == "ran fast"
        finally:
            await worker.stop()

    run(scenario)


def test_exit_on_import_is_a_setup_failure() -> None:
    async def scenario() -> None:
        worker = Worker("exit_on_import.py:Predictor", cwd=FIXTURES)
        setup = await worker.start()
        await worker.stop()
        assert setup.status == "failed"
        assert "importing and exiting" in setup.logs
        assert "failed to load predictor" in (setup.error or "")

    run(scenario)


def test_unencodable_input_takes_no_slot() -> None:
    async def scenario() -> None:
        worker = await started("outputs.py:out_str")
        try:
            with pytest.raises(TypeError):
                worker.predict("bad", {"text": object()})
            with pytest.raises(TypeError):
                worker.predict(None, {})  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                worker.predict("bad", ["not", "a", "dict"])  # type: ignore[arg-type]
            assert worker.in_flight == 0 and worker.state == "READY"
        finally:
            await worker.stop()

    run(scenario)


def test_unencodable_metric_fails_only_that_prediction() -> None:
    async def scenario() -> None:
        worker = await started("metrics.py:BadMetric")
        try:
            done = done_of(await collect(worker.predict("m", {})))
            # Cog refuses the value in record_metric itself, naming its type
            assert done.status == "failed" and "Unsupported metric value type: object" in (done.error or "")
            assert worker.state == "READY"
        finally:
            await worker.stop()

    run(scenario)


def test_setup_timeout_stops_a_hanging_setup() -> None:
    async def scenario() -> None:
        worker = Worker("setups.py:SlowSetup", cwd=FIXTURES, setup_timeout=3.0)
        begin = time.monotonic()
        starting = asyncio.ensure_future(worker.start())
        # wait for setup's first log line rather than a fixed sleep: a loaded machine can take a
        # second to spawn the worker and import the predictor
        snapshot = worker.setup_snapshot
        while time.monotonic() - begin < 2.5 and not (snapshot and "setup starts" in snapshot.logs):
            await asyncio.sleep(0.05)
            snapshot = worker.setup_snapshot
        assert worker.state == "STARTING" and worker.setup is None
        assert snapshot is not None and snapshot.status == "starting" and "setup starts" in snapshot.logs
        with pytest.raises(WorkerUnavailable):
            worker.predict("too-early", {})
        setup = await starting
        await worker.stop()
        assert time.monotonic() - begin < 10
        assert setup.status == "failed" and worker.state == "SETUP_FAILED"
        assert "within 3s" in (setup.error or "")
        assert "setup starts" in setup.logs

    run(scenario)


def test_cog_weights_url_is_downloaded_for_a_path_parameter(tmp_path: pathlib.Path) -> None:
    import functools
    import http.server
    import threading

    (tmp_path / "model.bin").write_text("remote weights")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/model.bin"

    async def scenario() -> Any:
        worker = await started("weights.py:WeightsPath", env={"COG_WEIGHTS": url})
        try:
            return output_of(await collect(worker.predict("w", {})))
        finally:
            await worker.stop()

    try:
        assert run(scenario) == "Path:remote weights"
    finally:
        server.shutdown()


@pytest.mark.parametrize("ref", ["sleepers.py:SyncSleep", "sleepers.py:AsyncSleep"])
def test_a_stale_cancel_never_hits_a_later_prediction_with_the_same_id(ref: str) -> None:
    from cogkit.runtime import ipc

    async def scenario() -> None:
        worker = await started(ref)
        try:
            first = worker.predict("same-id", {"seconds": 0.01})
            stale_seq = first.seq  # type: ignore[attr-defined]
            assert done_of(await collect(first)).status == "succeeded"
            # a cancel that crossed the first prediction's Done, arriving late
            assert worker._cancel_sock is not None
            worker._cancel_sock.sendall(ipc.FrameEncoder().encode(ipc.Cancel("same-id", stale_seq)))
            await asyncio.sleep(0.1)
            second = await collect(worker.predict("same-id", {"seconds": 0.3}))
            assert done_of(second).status == "succeeded"
        finally:
            await worker.stop()

    run(scenario)


def test_concurrent_async_logs_are_attributed_per_prediction() -> None:
    async def scenario() -> None:
        worker = await started("sleepers.py:AsyncChatty", concurrency=3)
        try:
            streams = {tag: worker.predict(tag, {"tag": tag}) for tag in ("a", "b", "c")}
            results = {tag: await collect(events) for tag, events in streams.items()}
        finally:
            await worker.stop()
        for tag, events in results.items():
            assert output_of(events) == tag
            assert logs_of(events) == "".join(f"{tag} line {i}\n" for i in range(3)) + f"{tag} partial"

    run(scenario)


def test_background_thread_output_does_not_disturb_predictions() -> None:
    async def scenario() -> None:
        worker = await started("capture.py:BackgroundChatter")
        try:
            for i in range(5):
                events = await collect(worker.predict(f"bg{i}", {"n": 50}))
                assert done_of(events).status == "succeeded"
                assert chunks_of(events) == list(range(50))
                assert "tick" in logs_of(events)  # output while it ran is attributed to it
            await asyncio.sleep(0.1)  # output between predictions goes to the server log, not here
            assert worker.state == "READY"
        finally:
            await worker.stop()

    run(scenario)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return "\nState:\tZ" not in fh.read()
    except FileNotFoundError:
        return False


def test_child_does_not_outlive_a_killed_server_even_during_setup() -> None:
    import signal
    import subprocess
    import sys

    script = (
        "import asyncio, sys\n"
        "from cogkit.runtime.worker import Worker\n"
        "async def main():\n"
        f"    w = Worker('setups.py:SlowSetup', cwd={FIXTURES!r})\n"
        "    task = asyncio.ensure_future(w.start())\n"
        "    while w.pid is None: await asyncio.sleep(0.01)\n"
        "    print(w.pid, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        child_pid = int(server.stdout.readline())
        assert _alive(child_pid)
        server.send_signal(signal.SIGKILL)
        server.wait()
        deadline = time.monotonic() + 10
        while _alive(child_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child_pid), "the predictor child outlived its server"
    finally:
        server.kill()


@pytest.mark.parametrize(
    ("name", "status", "check"),
    [
        ("out_path_as_str", "succeeded", lambda out, _: out.read_text() == "returned as a str"),
        ("out_optional_none", "succeeded", lambda out, _: out is None),
        ("out_list_wrong", "failed", lambda _, err: "output[1]: expected int, got str" in err),
        ("out_none_for_str", "succeeded", lambda out, _: out is None),  # Cog 0.2x: output null
        ("out_iter_wrong", "failed", lambda _, err: "yielded item: expected int, got str" in err),
    ],
)
def test_outputs_are_checked_against_the_annotation(name: str, status: str, check: Any) -> None:
    async def scenario() -> list[Any]:
        worker = await started(f"outputs.py:{name}")
        try:
            return await collect(worker.predict("o", {}))
        finally:
            await worker.stop()

    events = run(scenario)
    done = done_of(events)
    assert done.status == status, done
    value = output_of(events) if status == "succeeded" else None
    assert check(value, done.error or "")


def test_predictor_in_a_subdirectory_imports_its_neighbours() -> None:
    async def scenario() -> Any:
        worker = await started("nested/predict_nested.py:predict")
        try:
            return output_of(await collect(worker.predict("n", {})))
        finally:
            await worker.stop()

    assert run(scenario) == "hello from a neighbour"


def test_input_that_cannot_be_converted_fails_in_one_line_without_cogkits_traceback(tmp_path) -> None:
    """A `File` input the child cannot open: one line in error and logs, no frames of cogkit (issue 14)."""
    image = tmp_path / "image.png"
    image.write_text("png bytes")
    inputs = {"text": "hi", "image": str(image), "doc": str(tmp_path / "gone.txt"), "paths": [str(image)],
              "either": [1], "size": "large", "token": "t"}

    async def scenario() -> None:
        worker = await started("inputs.py:Predictor")
        try:
            events = await collect(worker.predict("p", inputs))
            done = done_of(events)
            assert done.status == "failed"
            assert done.error == "input 'doc': cannot open the file (No such file or directory)"
            logs = logs_of(events)
            assert "Traceback" not in logs and "cogkit/" not in logs, logs
            assert logs.strip() == f"cogkit: {done.error}"
            assert worker.state == "READY"
        finally:
            await worker.stop()

    run(scenario)
