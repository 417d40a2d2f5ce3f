"""`cogkit exec`: run an arbitrary command in the project's image with the project bound at /src.

The exit status of the command becomes cogkit's exit status, so `cogkit exec pytest` works in
scripts. docker itself reserves 125 (its own failure), 126 (not executable), 127 (not found);
those become one-line errors instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid

from cogkit.errors import CogkitError


def parse_publish(spec: str) -> tuple[str, int]:
    """`8888` → ("8888", 8888); `127.0.0.1:8888` → same port inside; `8080:80`; `ip:8080:80`."""
    parts = spec.split(":")
    try:
        if len(parts) == 1:
            port = int(parts[0])
            return str(port), port
        if len(parts) == 2:
            if "." in parts[0]:  # ip:port
                port = int(parts[1])
                return f"{parts[0]}:{port}", port
            return str(int(parts[0])), int(parts[1])
        if len(parts) == 3:
            return f"{parts[0]}:{int(parts[1])}", int(parts[2])
    except ValueError:
        pass
    raise CogkitError(
        f"cannot parse port {spec!r}", hint="use -p PORT, -p HOST_PORT:CONTAINER_PORT or -p IP:PORT"
    )


def _run(image: str, command: list[str], interactive_tty: bool, kwargs: dict) -> int:
    from cogkit.docker import containers

    docker = containers.docker()
    if interactive_tty:
        docker.run(image, command, **kwargs)
    else:
        for source, chunk in docker.run(image, command, stream=True, **kwargs):
            stream = sys.stdout if source == "stdout" else sys.stderr
            stream.buffer.write(chunk)
            stream.flush()
    return 0


def _is_gpu_failure(exc: Exception) -> bool:
    from cogkit.docker import containers

    return exc.return_code == 125 and isinstance(  # type: ignore[attr-defined]
        containers.engine_error_from(exc, "run"), containers.GPUUnavailableError
    )


def run_in_environment(args: argparse.Namespace) -> int:
    from python_on_whales.exceptions import DockerException

    from cogkit.docker import containers
    from cogkit.model.project import base_image_flags, build_project_image, load_project

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise CogkitError(
            "no command given", hint="e.g. `cogkit exec python` or `cogkit exec -p 8888 jupyter lab`"
        )
    env = containers.parse_env_flags(args.env)
    publish = [parse_publish(p) for p in args.publish]
    for host_part, _ in publish:
        host, _, port = host_part.rpartition(":")
        containers.ensure_port_free(int(port), host or "0.0.0.0")
    project = load_project(args.config_file)
    image = build_project_image(
        args.config_file,
        progress=getattr(args, "progress", None),
        flags=base_image_flags(args),
        require_predictor=False,  # a command in the environment needs no model
    )
    info = containers.inspect_image(image)
    gpus = containers.resolve_gpus(args.gpus, info.wants_gpu)
    cpu_fallback = containers.gpus_are_automatic(args.gpus, info.wants_gpu)
    interactive_tty = sys.stdin.isatty() and sys.stdout.isatty()
    name = f"cogkit-run-{uuid.uuid4().hex[:12]}"
    kwargs: dict = {
        "name": name,
        "remove": True,
        "interactive": True,
        "tty": interactive_tty,
        "publish": publish,
        "envs": env,
        "volumes": [(str(project.directory), "/src")],
        "workdir": "/src",
        "labels": {"run.cogkit.cli": "exec"},
    }
    if gpus:
        kwargs["gpus"] = gpus
    try:
        try:
            return _run(image, command, interactive_tty, kwargs)
        except DockerException as exc:
            if not (cpu_fallback and _is_gpu_failure(exc)):
                raise
            containers.remove_container(name)
            containers.warn_cpu_fallback()
            kwargs.pop("gpus", None)
            return _run(image, command, interactive_tty, kwargs)
    except DockerException as exc:
        code = exc.return_code
        if code == 127:
            raise CogkitError(
                f"command not found in the environment: {command[0]}",
                hint="install it via cog.yaml (python_requirements or system_packages)",
            ) from None
        if code == 126:
            raise CogkitError(
                f"cannot execute {command[0]} in the environment", hint="check its permissions"
            ) from None
        if code == 125:
            raise containers.engine_error_from(exc, "cannot run the command") from None
        return int(code)
    except KeyboardInterrupt:
        return 130
    finally:
        if os.environ.get("COGKIT_KEEP_CONTAINERS") != "1":
            containers.remove_container(name)
