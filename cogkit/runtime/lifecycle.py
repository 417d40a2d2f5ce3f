"""One model process's life, shared by both transports (HTTP server and queue worker).

start_runtime() spawns the predictor child, runs its setup and builds the PredictionRunner;
Shutdown turns SIGTERM/SIGINT (or a route) into one stop request; drain() lets in-flight work and
terminal webhooks finish within a grace period; stop_worker() ends the child. Also here: the one
logging set-up, the start-up GC tuning, and the readiness file Kubernetes probes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from cogkit.runtime.events import WorkerState

if TYPE_CHECKING:
    from cogkit.runtime.runner import PredictionRunner
    from cogkit.runtime.settings import Settings
    from cogkit.runtime.worker import Worker

log = logging.getLogger("cogkit.runtime")

READY_FILE = "/var/run/cog/ready"


def configure_logging(verbose: bool = False) -> None:
    """stderr logging at COG_LOG_LEVEL (INFO; DEBUG with -v), the same for every entry point."""
    level = os.environ.get("COG_LOG_LEVEL", "DEBUG" if verbose else "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def defer_gc() -> None:
    """Start-up allocates ~100k long-lived objects (imports); collecting them repeatedly costs
    ~10 ms. GC is switched back on by gc_after_startup(), with those objects frozen."""
    import gc

    gc.disable()


def gc_after_startup(_done: object = None) -> None:
    """Re-enable GC after start-up; frozen start-up objects are never scanned again (fewer pauses)."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def make_worker(settings: Settings) -> Worker:
    from cogkit.runtime.worker import Worker

    return Worker(predictor_ref=settings.predictor_ref, mode=settings.mode,
                  concurrency=settings.concurrency, cwd=settings.cwd)


async def start_runtime(settings: Settings, worker: Worker | None = None,
                        started: asyncio.Future[object] | None = None
                        ) -> tuple[Worker, PredictionRunner | None]:
    """Run the predictor's setup and build its runner: (worker, runner), runner None when setup failed.

    `started` is the worker's start() when the caller launched it early (the HTTP server boots the
    child while it imports aiohttp). Setup failures are logged here, once, for every transport.
    """
    from cogkit.runtime.runner import PredictionRunner
    from cogkit.runtime.webhooks import WebhookSender

    if worker is None:
        worker = make_worker(settings)
    try:
        await (started if started is not None else worker.start())
    except Exception as exc:
        log.error("setup failed: %s", exc)
    if worker.state not in WorkerState.SERVING:
        error = worker.setup.error if worker.setup is not None else None
        log.error("setup failed (state %s): %s", worker.state, error or "see the setup logs")
        return worker, None
    runner = PredictionRunner(
        worker, upload_url=settings.upload_url, webhook_sender=WebhookSender(),
        queue_size=settings.queue_size, schema=worker.schema, mode=settings.mode,
    )
    touch_ready_file()
    return worker, runner


def touch_ready_file() -> None:
    """/var/run/cog/ready for Kubernetes' readiness probe (as Cog), only when running in a cluster."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            os.makedirs(os.path.dirname(READY_FILE), exist_ok=True)
            open(READY_FILE, "a").close()
        except OSError as exc:
            log.warning("cannot write readiness file: %s", exc)


async def drain(runner: PredictionRunner | None, grace: float) -> None:
    """Finish in-flight predictions (cancelling them past `grace`) and their terminal webhooks."""
    if runner is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    if not await runner.drain(grace):
        log.warning("grace period over; cancelling %d prediction(s)", runner.inflight)
        await runner.cancel_all()
        await runner.drain(5.0)
    await runner.webhooks.drain(max(1.0, deadline - loop.time()))


async def stop_worker(worker: Worker) -> None:
    """Stop the predictor child (bounded); a failure to stop is logged, never raised."""
    try:
        await asyncio.wait_for(worker.stop(), 10)
    except Exception as exc:
        log.warning("stopping the worker: %s", exc)


class Shutdown:
    """One process's stop request, from SIGTERM, SIGINT or the transport (POST /shutdown, setup failed).

    With `ignore_sigterm` (Cog's --await-explicit-shutdown) SIGTERM is logged and ignored.
    `on_repeat` runs when a signal arrives after the stop was already requested.
    """

    def __init__(self, ignore_sigterm: bool = False, on_repeat: Callable[[], None] | None = None) -> None:
        self.event = asyncio.Event()
        self.ignore_sigterm = ignore_sigterm
        self.on_repeat = on_repeat
        self.exit_code = 0

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def request(self, reason: str, exit_code: int | None = None) -> None:
        if exit_code is not None:
            self.exit_code = exit_code
        if not self.event.is_set():
            log.info("shutting down: %s", reason)
            self.event.set()

    def _signal(self, name: str) -> None:
        if name == "SIGTERM" and self.ignore_sigterm:
            log.info("SIGTERM ignored (--await-explicit-shutdown); POST /shutdown to stop")
            return
        if self.event.is_set() and self.on_repeat is not None:
            self.on_repeat()
            return
        self.request(name)

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._signal, sig.name)

    async def wait(self) -> None:
        await self.event.wait()
