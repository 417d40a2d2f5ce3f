"""`connect()` and `Client.build()`: one build = session + Control.Solve + gateway + progress.

Everything a user can get wrong (addresses, context paths, secret sources, exporter choice) is
checked before the daemon is asked to do anything, and every failure surfaces as a CogkitError.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TextIO, TypeVar

import grpc

from cogkit.buildkit.address import BuilderAddress, TLSConfig, resolve_address
from cogkit.buildkit.control import ControlClient
from cogkit.buildkit.early_export import EarlyExports, ProgressHook
from cogkit.buildkit.errors import SecretNotFound, StepFailed
from cogkit.buildkit.exporters import CacheEntry, Exporter, MobyExporter, check_cache, check_exporter
from cogkit.buildkit.gateway import (
    BuildResult,
    Gateway,
    SolveFailed,
    definition_pb,
    local_source_names,
    rpc_message,
)
from cogkit.buildkit.pb import worker_pb2
from cogkit.buildkit.progress import ProgressMode, ProgressTracker, VertexInfo, make_display
from cogkit.buildkit.session.filesync import SyncStats
from cogkit.buildkit.session.fswalk import resolve_context_dir
from cogkit.buildkit.session.secrets import SecretSource, normalize_secrets
from cogkit.buildkit.session.server import Session
from cogkit.buildkit.transport import Connection, open_connection
from cogkit.errors import BuildError, CogkitError, EngineError

# A containerd-backed BuildKit worker (dockerd with the containerd image store) carries this label.
SNAPSHOTTER_LABEL = "org.mobyproject.buildkit.worker.snapshotter"
EPOCH_CAP = "exporter.sourcedateepoch"

# What a build function returns (a BuildResult subclass may carry the caller's own data), handed
# back as BuildReport.result.
R = TypeVar("R", bound=BuildResult | None)
BuildFunction = Callable[[Gateway], R]


@dataclass(frozen=True)
class VertexSummary:
    """One step of a finished build, as the engine reported it."""

    digest: str
    name: str
    cached: bool
    started: float | None
    completed: float | None
    error: str = ""


@dataclass
class BuildReport(Generic[R]):
    """The outcome of Client.build."""

    image_id: str | None
    exporter_response: dict[str, str]
    vertices: list[VertexSummary]
    sync: dict[str, SyncStats] = field(default_factory=dict)
    session_id: str = ""
    ref: str = ""  # the solve's ref (the build ID in the engine's build history)
    credential_requests: list[str] = field(default_factory=list)  # registry hosts the daemon asked about
    health_checks: int = 0
    duration: float = 0.0
    early_exported: list[str] = field(default_factory=list)  # layer digests dockerd registered early
    result: R | None = None  # what the build function returned

    step_digests: frozenset[str] = frozenset()
    step_names: frozenset[str] = frozenset()  # the same steps by name (newer engines rewrite digests)
    reproducible: bool = False  # exported with source-date-epoch (times clamped, see Client.build)

    @property
    def fully_cached(self) -> bool:
        """True when every exec/file step was a cache hit (sources always re-check, so they don't count)."""
        steps = [v for v in self.vertices if v.digest in self.step_digests or v.name in self.step_names]
        return bool(steps) and all(v.cached for v in steps)


def _step_failure(tracker: ProgressTracker, gateway: Gateway | None, detail: str) -> BuildError:
    """Name the failing step, its command, exit code and log tail; fall back to the engine's text."""
    failed: VertexInfo | None = tracker.failed(detail)
    first_line = detail.strip().splitlines()[0] if detail.strip() else "build failed"
    if failed is None:
        return BuildError(f"build failed: {first_line}", "the engine refused or aborted the build request")
    command = gateway.command_of(failed.digest, failed.name) if gateway else None
    reason = failed.error.strip().splitlines()[0] if failed.error.strip() else first_line
    return StepFailed(failed.name, failed.exit_code, command, failed.log_tail(20), reason)


def build_history() -> bool:
    """COGKIT_BUILD_HISTORY=1: record cogkit's builds in the engine's build history."""
    return os.environ.get("COGKIT_BUILD_HISTORY", "").strip().lower() in ("1", "true", "yes")


def _probe_caps(gateway: Gateway) -> None:
    """A build function that only pings: Client.caps runs it when no build has yet."""
    gateway.ping()


class Client:
    """A connection to one builder (dockerd's BuildKit or a standalone buildkitd)."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection
        self.control = ControlClient(connection.channel)
        self._caps: frozenset[str] | None = None
        self._workers: list[worker_pb2.WorkerRecord] | None = None

    @property
    def address(self) -> BuilderAddress:
        return self._conn.address

    @property
    def is_docker(self) -> bool:
        return self._conn.address.is_docker

    @property
    def exports_images(self) -> bool:
        """Whether BuildKit's own image exporters (`image` with push, `docker`, `oci`) and registry
        cache export are there: on a standalone buildkitd, and on a dockerd whose BuildKit worker is
        containerd's (the containerd image store: Docker 24+ with the feature on, the default from 29).
        dockerd's classic image store (20.10 always) has only the moby exporter and inline cache."""
        if not self.is_docker:
            return True
        if self._workers is None:
            self._workers = self.workers()
        return any(SNAPSHOTTER_LABEL in record.Labels for record in self._workers)

    @property
    def caps(self) -> frozenset[str]:
        """The daemon's LLB capabilities (LLBBridge.Ping inside a throw-away gateway build)."""
        if self._caps is None:
            self.build(_probe_caps, exporter=None, progress="quiet")
        assert self._caps is not None
        return self._caps

    def workers(self) -> list[worker_pb2.WorkerRecord]:
        self._workers = self.control.list_workers()
        return self._workers

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def build(
        self,
        build_fn: BuildFunction[R],
        exporter: Exporter | None | object = ...,
        local_dirs: Mapping[str, str | os.PathLike[str]] | None = None,
        secrets: Mapping[str, SecretSource | str] | None = None,
        cache_from: Sequence[str | CacheEntry] = (),
        cache_to: Sequence[str | CacheEntry] = (),
        no_cache: bool = False,
        progress: ProgressMode = "auto",
        progress_out: TextIO | None = None,
        shared_key: str | None = None,
        session_via: Literal["auto", "upgrade", "control"] = "auto",
        source_date_epoch: int | None = None,
        record_history: bool | None = None,
    ) -> BuildReport[R]:
        """Run `build_fn` against the gateway, export its result and report (with what it returned).

        The default exporter is moby (unnamed) on dockerd and none elsewhere; pass `exporter=None`
        to build without exporting. `session_via="control"` forces Control.Session even on dockerd
        (for comparisons); "auto" uses dockerd's faster /session upgrade when it is there.
        `source_date_epoch` makes the export reproducible (history times and every file's mtime
        clamped to it) where the engine has the cap (BuildKit >= v0.13; not dockerd 20.10's v0.8);
        into dockerd's own store (moby) only the times in the image config can be clamped.
        `record_history` puts the build in the engine's build history (`docker buildx history`,
        Docker Desktop's Builds view; BuildKit >= v0.11); None reads COGKIT_BUILD_HISTORY=1, and
        by default it is left out, which saves a code-edit rebuild ~80 ms on dockerd 28.5.
        """
        started = time.time()
        if session_via == "upgrade" and not self.is_docker:
            raise CogkitError("the /session upgrade only exists on dockerd", "use session_via='auto'")
        if exporter is ...:
            exporter = MobyExporter() if self.is_docker else None
        assert exporter is None or not isinstance(exporter, type(...))
        check_exporter(exporter, self.is_docker, self.exports_images)  # type: ignore[arg-type]
        dirs = {name: resolve_context_dir(path) for name, path in (local_dirs or {}).items()}
        sources = normalize_secrets(secrets)
        imports = [CacheEntry.parse(c) for c in cache_from]
        exports = [CacheEntry.parse(c) for c in cache_to]
        check_cache(imports, exports, self.is_docker and not self.exports_images)
        exporter_attrs = exporter.attrs() if exporter is not None else {}  # type: ignore[union-attr]
        reproducible = exporter is not None and source_date_epoch is not None and EPOCH_CAP in self.caps
        if reproducible:
            exporter_attrs["source-date-epoch"] = str(source_date_epoch)  # history and config times
            # File times too; dockerd's moby exporter unpacks into its store, which BuildKit refuses
            # to combine with rewriting, so only BuildKit's own exporters give bit-identical images.
            reproducible = not isinstance(exporter, MobyExporter)
            if reproducible:
                exporter_attrs["rewrite-timestamp"] = "true"

        session = Session(
            local_dirs=dirs,
            secrets=sources,
            output_file=getattr(exporter, "output_file", None),
            shared_key=shared_key,
        )
        tracker = ProgressTracker()
        display = make_display(progress, tracker, progress_out)
        build_id = uuid.uuid4().hex
        gateway: Gateway | None = None
        solve: grpc.Future | None = None
        status_call = None
        status_thread: threading.Thread | None = None
        early: EarlyExports | None = None
        watchers: list[Callable[[VertexInfo], None]] = []
        try:
            if self.is_docker and session_via != "control":
                session.attach_docker(self.address)
            else:
                session.attach_control(self._conn.channel)
            solve = self.control.solve_future(
                build_id,
                session.id,
                exporter.type if exporter is not None else "",  # type: ignore[union-attr]
                exporter_attrs,
                cache_imports=[(c.type, c.attrs) for c in imports],
                cache_exports=[(c.type, c.attrs) for c in exports],
                internal=not (build_history() if record_history is None else record_history),
            )
            status_call = self.control.status(build_id)
            status_thread = threading.Thread(
                target=self._pump_status,
                args=(status_call, tracker, display, watchers),
                name="status",
                daemon=True,
            )
            status_thread.start()
            gateway = Gateway(
                self._conn.channel,
                build_id,
                cache_imports=[(c.type, c.attrs) for c in imports],
                no_cache=no_cache,
                solve=solve,
            )
            try:
                result = build_fn(gateway)
                if result is None:  # a probe (e.g. caps) with nothing to export
                    gateway.return_result("", {})
                else:
                    self._check_local_dirs(result, dirs)
                    if result.early_layers and isinstance(exporter, MobyExporter):
                        early = EarlyExports(
                            self.control,
                            session.id,
                            [definition_pb(d) for d in result.early_layers],
                            cache_imports=[(c.type, c.attrs) for c in imports],
                            no_cache=no_cache,
                            progress=self._progress_hook(tracker, display),
                        )
                        watchers.append(early.on_vertex)
                    # With early exports, build everything before Return (which starts the final export),
                    # then let them finish: otherwise dockerd would checksum those layers twice at once.
                    evaluate = early is not None or result.before_return is not None
                    side = _Beside(result.before_return, gateway) if result.before_return else None
                    try:
                        ref_id = gateway.solve(result.definition, evaluate=evaluate)
                    except BaseException:
                        # The main graph's failure is the one to report, at once: the side solves (say a
                        # download of GBs beside the image) end with the build, their errors unread.
                        raise
                    if side is not None:
                        side.join()
                    if early is not None:
                        early.wait()
                    gateway.return_result(ref_id, result.result_metadata())
            except KeyboardInterrupt:
                raise
            except (grpc.RpcError, SolveFailed) as err:
                detail = rpc_message(err) if isinstance(err, grpc.RpcError) else str(err)
                gateway.return_error(detail)
                self._wait_quietly(solve)
                detail = self._solve_error(solve) or detail
                raise self._finish_failure(status_thread, tracker, gateway, detail) from None
            except BaseException as exc:
                gateway.return_error(str(exc) or type(exc).__name__)
                raise
            finally:
                if gateway.known_caps is not None:
                    self._caps = gateway.known_caps
            try:
                response = solve.result()
            except grpc.RpcError as err:
                raise self._finish_failure(status_thread, tracker, gateway, rpc_message(err)) from None
            if status_thread is not None:
                status_thread.join(5)
        except BaseException:
            if solve is not None:
                solve.cancel()
            if early is not None:
                early.cancel()
            raise
        finally:
            if status_call is not None:
                status_call.cancel()
            display.finish()
            if early is not None:
                early.remove_images(self.address)
            session.close()
        exporter_response = dict(response.ExporterResponse)
        return BuildReport(
            image_id=exporter_response.get("containerimage.digest"),
            exporter_response=exporter_response,
            vertices=[
                VertexSummary(v.digest, v.name, v.cached, v.started, v.completed, v.error)
                for v in tracker.ordered()
            ],
            sync=dict(session.sync_stats),
            step_digests=frozenset(gateway.step_digests) if gateway else frozenset(),
            step_names=frozenset(gateway.step_names) if gateway else frozenset(),
            session_id=session.id,
            ref=build_id,
            credential_requests=list(session.auth.requests),
            health_checks=session.health_checks,
            duration=time.time() - started,
            early_exported=early.exported if early is not None else [],
            reproducible=reproducible,
            result=result,
        )

    @staticmethod
    def _progress_hook(tracker: ProgressTracker, display: object) -> ProgressHook:
        """Client-side steps (the early export) into the same display, from any thread."""
        lock = threading.Lock()

        def show(key: str, name: str, started: float | None, completed: float | None) -> None:
            with lock:
                display.handle(tracker.note(key, name, started=started, completed=completed))  # type: ignore[attr-defined]

        return show

    @staticmethod
    def _check_local_dirs(result: BuildResult, dirs: Mapping[str, str]) -> None:
        """Every local:// source in the graph needs a directory, or the daemon fails obscurely."""
        missing = sorted(local_source_names(definition_pb(result.definition)) - set(dirs))
        if missing:
            raise CogkitError(
                f"the build reads local source {missing[0]!r} but no directory was given for it",
                f"pass local_dirs={{{missing[0]!r}: PATH}} to Client.build",
            )

    @staticmethod
    def _solve_error(solve: grpc.Future) -> str | None:
        """The daemon's error for the solve, if it has already failed."""
        try:
            error = solve.exception(timeout=5)
        except (grpc.FutureTimeoutError, grpc.FutureCancelledError):
            return None
        return rpc_message(error) if isinstance(error, grpc.RpcError) else None

    @staticmethod
    def _wait_quietly(solve: grpc.Future) -> None:
        with contextlib.suppress(grpc.RpcError, grpc.FutureTimeoutError, grpc.FutureCancelledError):
            solve.result(timeout=30)

    @staticmethod
    def _finish_failure(
        status_thread: threading.Thread | None, tracker: ProgressTracker, gateway: Gateway | None, detail: str
    ) -> CogkitError:
        if status_thread is not None and tracker.vertices:
            status_thread.join(5)  # let the last vertex errors and logs arrive
        # (no vertex at all: the solve was refused before it started; its stream has nothing to add)
        if "secret" in detail and "not found" in detail:
            failed = tracker.failed()
            return SecretNotFound(failed.name if failed else None, detail.splitlines()[0])
        return _step_failure(tracker, gateway, detail)

    @staticmethod
    def _pump_status(
        call: object,
        tracker: ProgressTracker,
        display: object,
        watchers: Sequence[Callable[[VertexInfo], None]] = (),
    ) -> None:
        try:
            for response in call:  # type: ignore[attr-defined]
                events = tracker.update(response)
                display.handle(events)  # type: ignore[attr-defined]
                for kind, vertex, _ in events:
                    if kind == "done":
                        for watch in watchers:
                            watch(vertex)
        except grpc.RpcError:
            pass


class _Beside:
    """Run `fn(gateway)` in a thread; join() waits and raises what it raised."""

    def __init__(self, fn: Callable[[Gateway], None], gateway: Gateway) -> None:
        self._error: BaseException | None = None

        def target() -> None:
            try:
                fn(gateway)
            except BaseException as exc:  # noqa: BLE001 - re-raised by join() in the caller's thread
                self._error = exc

        self._thread = threading.Thread(target=target, name="before-return", daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def connect(address: str | None = None, tls: TLSConfig | None = None, timeout: float = 10.0) -> Client:
    """Connect to the builder: explicit address > BUILDKIT_HOST > DOCKER_HOST > dockerd default."""
    target = resolve_address(address, tls)
    connection = open_connection(target, timeout=timeout)
    client = Client(connection)
    try:
        client.workers()  # proves the Control API answers, not just the socket
    except EngineError as err:
        client.close()
        raise EngineError(f"{target.describe()} does not speak BuildKit: {err.message}", err.hint) from None
    return client
