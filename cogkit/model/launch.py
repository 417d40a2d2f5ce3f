"""Start a model (a container from an image, or the local Python environment) and reach READY.

predict, train and serve all need the same thing: a model server on some port, its OpenAPI
schema, its logs when something goes wrong, and a guaranteed clean-up (Ctrl-C included). The
container and the local process are two implementations of that one shape.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cogkit.errors import CogkitError
from cogkit.model.client import ModelClient, PredictorImportError, reachable_host
from cogkit.model.spinner import Spinner

DEFAULT_SETUP_TIMEOUT = 300.0


@dataclass
class RunningModel:
    client: ModelClient
    schema: dict[str, Any] | None
    logs: Callable[[], str]
    description: str
    extra: dict[str, Any] = field(default_factory=dict)

    def ensure_schema(self) -> dict[str, Any] | None:
        """The image label's schema, else the live server's /openapi.json."""
        if self.schema is None:
            self.schema = self.client.openapi()
        return self.schema


def wait_until_ready(
    model: RunningModel,
    setup_timeout: float,
    progress: str | None,
    still_running: Callable[[], bool] | None,
    what: str,
) -> None:
    spinner = Spinner(progress)
    spinner.update(f"Starting {what}")
    try:
        model.client.wait_ready(
            setup_timeout,
            still_running=still_running,
            logs=model.logs,
            on_tick=lambda state: spinner.update(f"Waiting for {what} to be ready ({state})"),
            what=what,
        )
    finally:
        spinner.done()


@contextlib.contextmanager
def image_model(
    image: str,
    *,
    env: Mapping[str, str] | None = None,
    gpus: str | None = None,
    setup_timeout: float = DEFAULT_SETUP_TIMEOUT,
    progress: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    volumes: Sequence[tuple[str, str]] = (),
    command: Sequence[str] = (),
    purpose: str = "predict",
    schema: dict[str, Any] | None = None,
    wait: bool = True,
    cpu_fallback: bool = False,
) -> Iterator[RunningModel]:
    """Run `image` with its port 5000 published on host:port (a free port when None).

    `cpu_fallback`: the GPUs came from build.gpu, so a machine without one retries on the CPU.
    """
    from cogkit.docker import containers

    if port is not None:
        containers.ensure_port_free(port, host)
    for attempt in range(3):
        host_port = port or containers.free_port(reachable_host(host))
        try:
            container = containers.start_container(
                image,
                publish=[(containers.publish_spec(host, host_port), containers.MODEL_PORT)],
                env=env,
                gpus=gpus,
                volumes=volumes,
                command=command,
                purpose=purpose,
                cpu_fallback=cpu_fallback,
            )
            break
        except containers.PortInUseError:
            if port is not None or attempt == 2:
                raise  # a port the user chose, or no luck three times running
            # another process took the free port between the probe and `docker run`: pick again
    try:
        model = RunningModel(
            client=ModelClient(reachable_host(host), host_port),
            schema=schema,
            logs=lambda: containers.container_logs(container, tail=60),
            description=f"container {container.id[:12]} from {image}",
            extra={"container": container},
        )
        if wait:
            wait_until_ready(
                model,
                setup_timeout,
                progress,
                lambda: containers.container_running(container),
                "the model container",
            )
        yield model
    finally:
        containers.remove_container(container)


def cog_server_command(image_cmd: Sequence[str] | None) -> list[str]:
    """The image's CMD when it is the Cog HTTP server (cogkit's and Cog's images both are), else that server.

    predict, train and serve append their own flags to it.
    """
    base = list(image_cmd or [])
    return base if "cog.server.http" in base else ["python", "-m", "cog.server.http"]


def _local_python_path(project_dir: Path) -> str:
    """PYTHONPATH for the local server: the project, plus cogkit's `cog` shim when `cog` is not installed."""
    parts = [str(project_dir)]
    import importlib.util

    if importlib.util.find_spec("cog") is None:
        compat = Path(__file__).resolve().parents[2] / "compat"  # the repository's compat/
        if (compat / "cog").is_dir():
            parts.append(str(compat))
    existing = os.environ.get("PYTHONPATH")
    if existing:
        parts.append(existing)
    return os.pathsep.join(parts)


def local_server_command(
    predictor: str,
    *,
    port: int,
    host: str,
    mode: str = "predict",
    train_ref: str | None = None,
    upload_url: str | None = None,
    await_explicit_shutdown: bool = False,
) -> list[str]:
    """The runtime's HTTP server, run by this very interpreter (so the user's env is the model's env)."""
    cmd = [sys.executable, "-m", "cogkit.runtime.server", "--host", host, "--port", str(port)]
    if mode == "train":
        cmd += ["--x-mode", "train"]
        if train_ref:
            cmd += ["--predictor", train_ref]
    elif predictor:
        cmd += ["--predictor", predictor]
    if upload_url:
        cmd += ["--upload-url", upload_url]
    if await_explicit_shutdown:
        cmd += ["--await-explicit-shutdown", "true"]
    return cmd


def warn_python_mismatch(config: Mapping[str, Any]) -> None:
    """--local runs with this Python: say so (one line) when cog.yaml asks for another version."""
    wanted = str((config.get("build") or {}).get("python_version") or "").strip()
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if wanted and running != wanted and not wanted.startswith(running + "."):
        from cogkit.terminal import paint

        print(paint(f"warning: cog.yaml asks for Python {wanted}; --local runs with this Python {running} "
                    f"({sys.executable})"), file=sys.stderr, flush=True)


def _local_import_hint(project_dir: Path, config: Mapping[str, Any], hint: str | None) -> str:
    """Under --local the model's packages must be in this Python (cogkit does not install them)."""
    build = config.get("build") or {}
    requirements = build.get("python_requirements")
    packages = " ".join(str(p) for p in build.get("python_packages") or [])
    what = f"-r {requirements}" if requirements else packages or "<package>"
    how = f"{sys.executable} -m pip install {what}"
    text = f"--local imports the model with this Python: install its requirements here ({how})"
    tail = (hint or "").partition("\n")[2]
    return text + ("\n" + tail if tail else "")


@contextlib.contextmanager
def local_model(
    project_dir: Path,
    config: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    setup_timeout: float = DEFAULT_SETUP_TIMEOUT,
    progress: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    upload_url: str | None = None,
    mode: str = "predict",
    schema: dict[str, Any] | None = None,
    wait: bool = True,
    capture_logs: bool = True,
) -> Iterator[RunningModel]:
    """Run the runtime's server as a child of this Python, in the project directory; no Docker."""
    from cogkit.docker import containers

    if port is None:
        port = containers.free_port()
    else:
        containers.ensure_port_free(port, host)
    predictor = str(config.get("predict") or "")
    train_ref = str(config.get("train") or "") or None
    if mode == "train" and not train_ref:
        raise CogkitError("cog.yaml has no `train:` entry", hint='add e.g. train: "train.py:train"')
    if not predictor and not train_ref:
        raise CogkitError("cog.yaml has no `predict:` entry", hint='add e.g. predict: "predict.py:Predictor"')
    warn_python_mismatch(config)
    child_env = dict(os.environ)
    for item in config.get("environment") or []:
        key, _, value = str(item).partition("=")
        child_env[key] = value
    child_env.update(env or {})
    child_env["PYTHONPATH"] = _local_python_path(project_dir)
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    log_file = (
        tempfile.NamedTemporaryFile(prefix="cogkit-local-", suffix=".log", delete=False)
        if capture_logs
        else None
    )
    # One-shot runs keep the server up after a failed setup so /health-check can report its logs.
    cmd = local_server_command(
        predictor,
        port=port,
        host=host,
        mode=mode,
        train_ref=train_ref,
        upload_url=upload_url,
        await_explicit_shutdown=wait,
    )
    proc = subprocess.Popen(
        cmd,
        cwd=project_dir,
        env=child_env,
        stdout=log_file or None,
        stderr=subprocess.STDOUT if log_file else None,
        start_new_session=True,
    )

    def logs() -> str:
        if log_file is None:
            return ""
        log_file.flush()
        return Path(log_file.name).read_text(errors="replace")[-20000:]

    try:
        model = RunningModel(
            client=ModelClient(reachable_host(host), port),
            schema=schema,
            logs=logs,
            description=f"local process {proc.pid}",
            extra={"process": proc},
        )
        if wait:
            try:
                wait_until_ready(model, setup_timeout, progress, lambda: proc.poll() is None,
                                 "the model process")
            except PredictorImportError as exc:
                hint = _local_import_hint(project_dir, config, exc.hint)
                raise PredictorImportError(exc.message, hint=hint) from None
        yield model
    except BaseException:
        _kill_group(proc)  # setup failed, timed out or the user gave up: nothing to be graceful about
        raise
    finally:
        _stop_process(proc, ModelClient(reachable_host(host), port))
        if log_file is not None:
            log_file.close()
            with contextlib.suppress(OSError):
                os.unlink(log_file.name)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    import signal

    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _stop_process(proc: subprocess.Popen[bytes], client: ModelClient) -> None:
    """POST /shutdown (honoured even with --await-explicit-shutdown), then SIGTERM, then SIGKILL."""
    import signal

    if proc.poll() is not None:
        return
    with contextlib.suppress(Exception):
        client.request("POST", "/shutdown", timeout=2)
        proc.wait(timeout=3)
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def local_schema(
    project_dir: Path, config: Mapping[str, Any], mode: str = "predict"
) -> dict[str, Any] | None:
    """The model's OpenAPI schema from its source (no import, no container), if the runtime offers it."""
    ref = config.get("train" if mode == "train" else "predict")
    if not ref or ":" not in str(ref):
        return None
    file_part, _, name = str(ref).rpartition(":")
    try:
        from cogkit.schema.openapi import openapi_from_source
    except ImportError:
        return None
    try:
        schema = openapi_from_source(str(project_dir / file_part), name, mode)
    except CogkitError:
        raise
    except Exception:
        return None  # the live server's /openapi.json is the fallback
    return json.loads(json.dumps(schema)) if schema is not None else None
