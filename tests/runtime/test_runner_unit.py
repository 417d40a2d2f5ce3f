"""PredictionRunner on its own: a scripted in-process worker stands in for the child process.

The end-to-end suites run the real Worker; these pin the runner's own rules (admission, the
wait queue, cancel, validation, redaction, event handling) where they are cheap to reach.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from cogkit.runtime import prediction as prediction_module
from cogkit.runtime.events import Done, Event, Log, Metric, Output, OutputChunk, SetupResult
from cogkit.runtime.runner import InputValidationError, PredictionRunner, RunnerUnavailable
from cogkit.runtime.slots import Busy, Slots
from cogkit.runtime.types import PredictionRequest


class ScriptedWorker:
    """Implements cogkit.runtime.events.WorkerAPI; each predict() plays `script` after `gate` opens."""

    def __init__(self, script: list[Event], concurrency: int = 1, gated: bool = False) -> None:
        self.script = script
        self.concurrency = concurrency
        self.slots = Slots(concurrency)
        self.setup: SetupResult | None = None
        self.schema: dict[str, Any] | None = None
        self.gated = gated
        self.gates: dict[str, asyncio.Event] = {}
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self._state = "READY"

    @property
    def state(self) -> str:
        return self._state

    @property
    def setup_snapshot(self) -> SetupResult | None:
        return self.setup

    async def start(self) -> SetupResult:
        self.setup = SetupResult(started_at=None, completed_at=None, logs="", status="succeeded")
        return self.setup

    async def stop(self, timeout: float = 5.0) -> None:
        self._state = "DEFUNCT"

    def predict(self, prediction_id: str, inputs: dict[str, Any],
                context: dict[str, str] | None = None, *, slot_held: bool = False) -> AsyncIterator[Event]:
        assert slot_held, "the runner takes the slot at admission"
        self.started.append(prediction_id)
        self.gates[prediction_id] = gate = asyncio.Event()
        if not self.gated:
            gate.set()
        return self._play(prediction_id, gate)

    async def _play(self, prediction_id: str, gate: asyncio.Event) -> AsyncIterator[Event]:
        await gate.wait()
        if prediction_id in self.cancelled:
            yield Done(status="canceled")
            return
        for event in self.script:
            yield event

    def cancel(self, prediction_id: str) -> bool:
        self.cancelled.append(prediction_id)
        gate = self.gates.get(prediction_id)
        if gate is not None:
            gate.set()
        return True


async def started(worker: ScriptedWorker, prediction_id: str) -> asyncio.Event:
    """The gate of a prediction once the runner's task has handed it to the worker."""
    while prediction_id not in worker.gates:
        await asyncio.sleep(0)
    return worker.gates[prediction_id]


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 10))


def request(**fields: Any) -> PredictionRequest:
    return PredictionRequest(**{"input": {}, **fields})


def test_events_become_the_response() -> None:
    async def scenario() -> None:
        done = Done(status="succeeded", predict_time=0.25)
        worker = ScriptedWorker([Log("a\n"), Log("b\n"), Output(42), Metric("tokens", 3), done])
        seen: list[str] = []
        final = await PredictionRunner(worker).run(request(id="p1"),
                                                   on_update=lambda p, ev, d: seen.append(ev))
        assert (final.status, final.output, final.logs, final.error) == ("succeeded", 42, "a\nb\n", None)
        assert final.metrics == {"tokens": 3, "predict_time": 0.25}
        assert seen == ["start", "log", "log", "metric", "completed"]
        assert final.started_at and final.completed_at

    run(scenario)


def test_iterator_output_is_a_list_and_a_strange_status_is_a_failure() -> None:
    async def scenario() -> None:
        runner = PredictionRunner(ScriptedWorker([OutputChunk("x"), OutputChunk("y"), Done(status="weird")]))
        final = await runner.run(request())
        assert final.output == ["x", "y"] and final.status == "failed" and final.error == "prediction failed"

    run(scenario)


def test_capacity_is_the_worker_s_and_the_slot_is_free_before_waiters_wake() -> None:
    async def scenario() -> None:
        worker = ScriptedWorker([Done(status="succeeded")], concurrency=1, gated=True)
        runner = PredictionRunner(worker)
        first = runner.submit(request(id="a"))
        assert runner.busy
        with pytest.raises(Busy):
            runner.submit(request(id="b"))
        assert runner.submit(request(id="a")) is first  # an id in flight: the same prediction
        (await started(worker, "a")).set()
        await first.wait()
        assert not runner.busy
        second = runner.submit(request(id="b"))  # right after the wait: never a spurious 409
        (await started(worker, "b")).set()
        assert (await second.wait()).status == "succeeded"

    run(scenario)


def test_the_wait_queue_and_cancelling_a_queued_prediction() -> None:
    async def scenario() -> None:
        worker = ScriptedWorker([Done(status="succeeded")], gated=True)
        runner = PredictionRunner(worker, queue_size=1)
        first = runner.submit(request(id="a"))
        queued = runner.submit(request(id="b"))
        assert queued.response.status == "starting" and first.response.status == "processing"
        assert await runner.cancel("b")
        assert (await queued.wait()).status == "canceled" and "b" not in worker.started
        third = runner.submit(request(id="c"))  # the queue has room again
        (await started(worker, "a")).set()
        await first.wait()
        (await started(worker, "c")).set()
        assert (await third.wait()).status == "succeeded"

    run(scenario)


def test_cancelling_a_running_prediction_goes_to_the_worker() -> None:
    async def scenario() -> None:
        worker = ScriptedWorker([Done(status="succeeded")], gated=True)
        runner = PredictionRunner(worker)
        pred = runner.submit(request(id="a"))
        await started(worker, "a")
        assert await runner.cancel("a") and worker.cancelled == ["a"]
        assert (await pred.wait()).status == "canceled"
        assert not await runner.cancel("a")  # no longer in flight

    run(scenario)


def test_unavailable_until_ready_and_while_draining() -> None:
    async def scenario() -> None:
        worker = ScriptedWorker([Done(status="succeeded")])
        worker._state = "STARTING"
        runner = PredictionRunner(worker)
        with pytest.raises(RunnerUnavailable, match="Setup has not finished"):
            runner.submit(request())
        worker._state = "READY"
        assert await runner.drain(1.0)
        with pytest.raises(RunnerUnavailable, match="shutting down"):
            await runner.run(request())

    run(scenario)


SCHEMA = {"components": {"schemas": {"Input": {
    "properties": {"n": {"type": "integer"}, "key": {"type": "string", "x-cog-secret": True}},
    "required": ["n"],
}}}}


def test_validation_and_secret_redaction() -> None:
    async def scenario() -> None:
        runner = PredictionRunner(ScriptedWorker([Done(status="succeeded")]), schema=SCHEMA)
        with pytest.raises(InputValidationError) as caught:
            runner.validate(request(input={"n": "x"}))
        assert caught.value.errors[0]["loc"] == ["body", "input", "n"]
        req = request(input={"n": "3", "key": "hunter2", "extra": 1})
        inputs = runner.validate(req)
        assert inputs == {"n": 3, "key": "hunter2"}  # coerced, unknown dropped; the predictor sees the secret
        final = await runner.run(req, inputs=inputs)
        assert final.input == {"n": 3, "key": "**********"}

    run(scenario)


def test_a_log_flood_keeps_the_newest_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prediction_module, "MAX_LOG_CHARS", 100)

    async def scenario() -> None:
        lines = [Log(f"{i:03d}" + "." * 16 + "\n") for i in range(50)]
        final = await PredictionRunner(ScriptedWorker([*lines, Done(status="succeeded")])).run(request())
        assert final.logs.startswith("[cogkit: ") and final.logs.endswith("049" + "." * 16 + "\n")
        assert len(final.logs) < 200

    run(scenario)
