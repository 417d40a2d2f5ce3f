"""Container lifecycle for predict/serve/train/run, through python-on-whales.

Every engine failure a user can hit (no daemon, no image, port taken, no GPU) becomes a
CogkitError here, so the commands never see a DockerException or a traceback. Containers are
labelled `run.cogkit.cli=<command>` so a leftover from a crash is easy to find and remove.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogkit.errors import CogkitError, EngineError

if TYPE_CHECKING:
    from python_on_whales import Container, DockerClient

MODEL_PORT = 5000
SCHEMA_LABEL = "run.cog.openapi_schema"
CONFIG_LABEL = "run.cog.config"


class ImageNotFoundError(CogkitError):
    """The image named on the command line does not exist locally."""


class PortInUseError(CogkitError):
    """The host port asked for is already taken."""


class GPUUnavailableError(CogkitError):
    """The model wants a GPU and this machine has none usable from containers."""


@dataclass
class ImageInfo:
    """What the CLI needs from an image before starting it."""

    ref: str
    id: str
    labels: dict[str, str] = field(default_factory=dict)
    cmd: list[str] = field(default_factory=list)

    @property
    def schema(self) -> dict[str, Any] | None:
        raw = self.labels.get(SCHEMA_LABEL)
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    @property
    def config(self) -> dict[str, Any]:
        raw = self.labels.get(CONFIG_LABEL)
        try:
            value = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def is_model(self) -> bool:
        """Built by cogkit or Cog (both label their images `run.cog.*`)."""
        return any(key.startswith("run.cog.") for key in self.labels)

    @property
    def wants_gpu(self) -> bool:
        return bool((self.config.get("build") or {}).get("gpu"))


def _docker_binary() -> str:
    """COGKIT_DOCKER_CLI wins; otherwise the first `docker` on PATH."""
    return os.environ.get("COGKIT_DOCKER_CLI") or shutil.which("docker") or "docker"


_client: DockerClient | None = None


def docker() -> DockerClient:
    global _client
    if _client is None:
        from python_on_whales import DockerClient

        _client = DockerClient(client_call=[_docker_binary()])
    return _client


def _stderr_of(exc: Exception) -> str:
    return (getattr(exc, "stderr", None) or str(exc) or "").strip()


def engine_error_from(exc: Exception, doing: str) -> CogkitError:
    """Map a docker CLI failure to the one-line error a user can act on."""
    text = _stderr_of(exc)
    lowered = text.lower()
    if (
        "cannot connect to the docker daemon" in lowered
        or "error during connect" in lowered
        or "is the docker daemon running" in lowered
        or "connection refused" in lowered
        and "docker.sock" in lowered
    ):
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        return EngineError(
            f"no container engine reachable at {host}",
            hint="start Docker (`sudo systemctl start docker`, or open Docker Desktop), or set DOCKER_HOST",
        )
    if "no such image" in lowered:
        return ImageNotFoundError(
            f"{doing}: image not found",
            hint="build it with `cogkit build -t NAME`, or check the name with `docker images`",
        )
    if "port is already allocated" in lowered or "address already in use" in lowered:
        return PortInUseError(f"{doing}: the port is already in use", hint="pick another one with -p PORT")
    if ("could not select device driver" in lowered and "gpu" in lowered) or (
        "nvidia-container-cli: initialization error" in lowered
    ):
        return GPUUnavailableError(
            f"{doing}: the engine cannot give containers a GPU (no NVIDIA container runtime)",
            hint="install the NVIDIA container toolkit, or pass --gpus '' to run on CPU deliberately",
        )
    first = next((line for line in text.splitlines() if line.strip()), "unknown error")
    return EngineError(f"{doing}: {first}", hint="rerun with --debug for details")


@contextlib.contextmanager
def engine_errors(doing: str) -> Iterator[None]:
    """Turn python-on-whales exceptions raised inside the block into CogkitErrors."""
    from python_on_whales.exceptions import DockerException

    try:
        yield
    except DockerException as exc:
        raise engine_error_from(exc, doing) from None
    except FileNotFoundError as exc:
        raise EngineError(
            f"the docker CLI ({_docker_binary()}) is not installed",
            hint="install docker, or point COGKIT_DOCKER_CLI at the client binary",
        ) from exc


def inspect_image(ref: str) -> ImageInfo:
    if "=" in ref and "/" not in ref.split("=", 1)[0]:
        raise ImageNotFoundError(f"invalid image name {ref!r}", hint="did you forget -i? e.g. -i " + ref)
    try:
        with engine_errors(f"cannot use image {ref}"):
            image = docker().image.inspect(ref)
    except ImageNotFoundError as exc:
        raise ImageNotFoundError(f"image not found: {ref}", hint=exc.hint) from None
    labels = dict((image.config.labels if image.config else None) or {})
    cmd = list((image.config.cmd if image.config else None) or [])
    return ImageInfo(ref=ref, id=image.id, labels=labels, cmd=cmd)


def ensure_image(ref: str, on_pull: Callable[[str], None] | None = None,
                 progress: str | None = None) -> ImageInfo:
    """inspect_image, pulling first when the image is missing locally (as `cog predict IMAGE` does).

    With `progress` (auto/tty/plain/quiet) the pull shows layers, bytes and rate (cogkit.docker.transfer)."""
    try:
        return inspect_image(ref)
    except ImageNotFoundError:
        if not has_registry_host(ref):
            raise  # a bare name is a local image (or a typo): don't send it to Docker Hub
    if on_pull is not None:
        on_pull(f"Pulling {ref}")
    from python_on_whales.exceptions import DockerException

    from cogkit.docker import transfer

    try:
        if progress is not None and transfer.available():
            transfer.pull_image(ref, progress)
        else:
            docker().image.pull(ref, quiet=True)
    except (DockerException, transfer.TransferError) as exc:
        error = engine_error_from(exc, f"cannot pull {ref}")
        if isinstance(error, EngineError) and "no container engine" in error.message:
            raise error from None
        raise ImageNotFoundError(
            f"image not found: {ref} (not here, and the pull failed: {_first_line(exc)})",
            hint="build it with `cogkit build -t NAME`, check the name with `docker images`, "
            "or `cogkit login` to its registry",
        ) from None
    return inspect_image(ref)


def has_registry_host(ref: str) -> bool:
    first, sep, _ = ref.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def _first_line(exc: Exception) -> str:
    text = _stderr_of(exc)
    return next((line.strip() for line in text.splitlines() if line.strip()), "unknown error")


def gpu_available() -> bool:
    """True when an NVIDIA device is visible here (containers can then get `--gpus all`)."""
    if os.environ.get("COGKIT_ASSUME_GPU") == "1":
        return True
    return Path("/dev/nvidia0").exists() or Path("/dev/nvidiactl").exists()


def resolve_gpus(requested: str | None, wants_gpu: bool) -> str | None:
    """The `--gpus` value for docker: an explicit flag, else `all` when cog.yaml sets build.gpu.

    `--gpus ''` (empty) opts into CPU explicitly. A machine without a GPU is found out by docker
    itself; `start_container(cpu_fallback=True)` then retries on the CPU, as Cog does.
    """
    if requested is not None:
        return requested or None
    return "all" if wants_gpu else None


def gpus_are_automatic(requested: str | None, wants_gpu: bool) -> bool:
    """True when `--gpus all` came from build.gpu rather than the user: only then may it fall back."""
    return requested is None and wants_gpu


# Cog prints `Missing device driver, re-trying without GPU`; never silently (Cog's #2247).
CPU_FALLBACK_WARNING = (
    "warning: Missing device driver, re-trying without GPU "
    "(cog.yaml sets build.gpu: true, but this engine cannot give containers a GPU)"
)


def warn_cpu_fallback() -> None:
    import sys

    print(CPU_FALLBACK_WARNING, file=sys.stderr, flush=True)


def publish_spec(host: str, port: int) -> str:
    """docker's `-p` host side: `HOST:PORT`, or just `PORT` (all interfaces) when host is empty."""
    return f"{host}:{port}" if host else str(port)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ensure_port_free(port: int, host: str = "127.0.0.1") -> None:
    bind_host = "" if host in ("0.0.0.0", "") else host
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the servers that will bind it: TIME_WAIT leftovers are fine, a live listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind_host, port))
        except OSError:
            raise PortInUseError(
                f"port {port} on {host or '0.0.0.0'} is already in use",
                hint=f"stop whatever listens there, or pick another port with -p (e.g. -p {port + 1})",
            ) from None


def parse_env_flags(flags: Iterable[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for flag in flags:
        name, sep, value = flag.partition("=")
        if not sep or not name:
            raise CogkitError(
                f"cannot parse environment variable {flag!r}: expected KEY=VALUE", hint="write -e KEY=VALUE"
            )
        env[name] = value
    return env


def start_container(
    image: str,
    *,
    publish: Sequence[tuple[str, int]] = (),
    env: Mapping[str, str] | None = None,
    gpus: str | None = None,
    volumes: Sequence[tuple[str, str]] = (),
    command: Sequence[str] = (),
    workdir: str | None = None,
    purpose: str = "predict",
    add_hosts: Sequence[tuple[str, str]] = (),
    cpu_fallback: bool = False,
) -> Container:
    """Start `image` detached, ports published as (host_ip:host_port, container_port).

    With `cpu_fallback` (GPUs asked for by build.gpu, not by --gpus), a start that fails for want
    of a GPU is retried once without one, after a warning line.
    """
    try:
        return _start_container(image, publish, env, gpus, volumes, command, workdir, purpose, add_hosts)
    except GPUUnavailableError:
        if not (cpu_fallback and gpus):
            raise
    warn_cpu_fallback()
    return _start_container(image, publish, env, None, volumes, command, workdir, purpose, add_hosts)


def _start_container(
    image: str,
    publish: Sequence[tuple[str, int]],
    env: Mapping[str, str] | None,
    gpus: str | None,
    volumes: Sequence[tuple[str, str]],
    command: Sequence[str],
    workdir: str | None,
    purpose: str,
    add_hosts: Sequence[tuple[str, str]],
) -> Container:
    kwargs: dict[str, Any] = {
        "detach": True,
        "publish": [(host, container) for host, container in publish],
        "envs": dict(env or {}),
        "volumes": list(volumes),
        "labels": {"run.cogkit.cli": purpose},
        "init": False,
    }
    if gpus:
        kwargs["gpus"] = gpus
    if workdir:
        kwargs["workdir"] = workdir
    if add_hosts:
        kwargs["add_hosts"] = list(add_hosts)
    # A name, so a container that was created but failed to start (port taken, no GPU) can be removed.
    kwargs["name"] = f"cogkit-{purpose}-{uuid.uuid4().hex[:12]}"
    try:
        with engine_errors(f"cannot start a container from {image}"):
            return docker().run(image, list(command), **kwargs)
    except (CogkitError, KeyboardInterrupt):
        # Ctrl-C while `docker run -d` is still returning: the container exists, but nobody has its id yet.
        remove_container(kwargs["name"])
        raise


def container_running(container: Container) -> bool:
    with contextlib.suppress(Exception):
        container.reload()
        return bool(container.state.running)
    return False


def container_logs(container: Container, tail: int = 40) -> str:
    with contextlib.suppress(Exception):
        return docker().container.logs(container, tail=tail)
    return ""


def exit_code(container: Container) -> int | None:
    with contextlib.suppress(Exception):
        container.reload()
        return container.state.exit_code
    return None


def remove_container(container: Container | str) -> None:
    """Stop and remove, quietly: used on every exit path including Ctrl-C."""
    with contextlib.suppress(Exception):
        docker().container.remove(container, force=True, volumes=True)
