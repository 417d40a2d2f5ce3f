"""The foreground loop behind `cogkit serve`: start, stream logs, restart on edits, clean up.

Edits are found by polling file modification times (no inotify dependency, works on bind mounts
and network filesystems). A Python file change restarts the server (the container, or the local
process); a cog.yaml or requirements change needs a rebuild, which is said rather than guessed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cogkit.model.project import Project

_SKIP_DIRS = {
    ".git",
    ".cog",
    "__pycache__",
    ".venv",
    "venv",
    "node_modules",
    ".ipynb_checkpoints",
    ".pytest_cache",
    ".mypy_cache",
}
_POLL_SECONDS = 0.5


def _code_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".")]
        for name in filenames:
            if name.endswith(".py") or name == "cog.yaml":
                yield Path(dirpath) / name


def snapshot(root: Path) -> dict[Path, float]:
    stamps: dict[Path, float] = {}
    for path in _code_files(root):
        with contextlib.suppress(OSError):
            stamps[path] = path.stat().st_mtime_ns
    return stamps


def changed_files(before: dict[Path, float], after: dict[Path, float]) -> list[Path]:
    return sorted({p for p in before.keys() | after.keys() if before.get(p) != after.get(p)})


def example_body(schema: dict[str, Any] | None) -> str:
    """A request body to copy: the model's inputs with placeholder values of the right type."""
    import json

    from cogkit.model.inputs import input_properties

    props = input_properties(schema) or {}
    placeholders = {"integer": 1, "number": 0.5, "boolean": True, "array": [], "object": {}}
    body: dict[str, Any] = {}
    for name, prop in sorted(props.items(), key=lambda item: item[1].get("x-order", 1 << 30)):
        if "default" in prop and body:
            continue  # required inputs, plus the first one, keep the example short
        if prop.get("format") == "uri":
            body[name] = "https://example.com/input.png"
        elif isinstance(prop.get("enum"), list) and prop["enum"]:
            body[name] = prop["enum"][0]
        else:
            body[name] = placeholders.get(str(prop.get("type")), "...")
    return json.dumps({"input": body}) if props else '{"input": {...}}'


def _announce(args: argparse.Namespace, how: str, schema: dict[str, Any] | None = None,
              playground: bool = True) -> None:
    host = args.host or "0.0.0.0"
    print(f"Serving at http://{host}:{args.port} ({how}); Ctrl-C to stop", file=sys.stderr, flush=True)
    print(
        f"  try: curl -s http://{'127.0.0.1' if host == '0.0.0.0' else host}:{args.port}/predictions "
        f"-H 'Content-Type: application/json' -d '{example_body(schema)}'",
        file=sys.stderr,
        flush=True,
    )
    if playground:
        print(f"  playground: http://{'127.0.0.1' if host == '0.0.0.0' else host}:{args.port}/playground",
              file=sys.stderr, flush=True)


def _playground_on(env: dict[str, str]) -> bool:
    """The model server's COG_PLAYGROUND rule, for the environment the server will see."""
    return env.get("COG_PLAYGROUND", "1").strip().lower() not in ("0", "false", "no", "off")


def _watch(project: Project, restart: Any, stop: threading.Event) -> None:
    """Call `restart(changed)` whenever Python files change; warn when cog.yaml does."""
    stamps = snapshot(project.directory)
    while not stop.wait(_POLL_SECONDS):
        current = snapshot(project.directory)
        changed = changed_files(stamps, current)
        stamps = current
        if not changed:
            continue
        names = ", ".join(str(p.relative_to(project.directory)) for p in changed[:5])
        if any(p.name == "cog.yaml" for p in changed):
            print(
                "cog.yaml changed: restart `cogkit serve` to rebuild the environment",
                file=sys.stderr,
                flush=True,
            )
            continue
        print(f"Change detected ({names}); restarting the model server", file=sys.stderr, flush=True)
        restart()


def serve_image(project: Project, args: argparse.Namespace, env: dict[str, str], progress: str | None) -> int:
    from cogkit.docker import containers
    from cogkit.model.project import base_image_flags, build_project_image
    from cogkit.model.weights import check_drift, weight_mounts

    containers.ensure_port_free(args.port, args.host)
    weights_project = check_drift(project.config_path)  # managed weights: a stale lock stops here
    image = build_project_image(args.config_file, progress=progress, flags=base_image_flags(args))
    with weight_mounts(weights_project) as mounts:
        return _serve_container(project, args, env, image, mounts)


def _serve_container(
    project: Project, args: argparse.Namespace, env: dict[str, str], image: str, mounts: list[tuple[str, ...]]
) -> int:
    from cogkit.docker import containers
    from cogkit.model.client import ModelClient, reachable_host
    from cogkit.model.launch import cog_server_command

    info = containers.inspect_image(image)
    gpus = containers.resolve_gpus(args.gpus, info.wants_gpu)
    command: list[str] = []
    if args.upload_url:
        command = [*cog_server_command(info.cmd), "--upload-url", args.upload_url]
    container = containers.start_container(
        image,
        publish=[(containers.publish_spec(args.host, args.port), containers.MODEL_PORT)],
        env=env,
        gpus=gpus,
        volumes=[(str(project.directory), "/src"), *mounts],
        command=command,
        purpose="serve",
        # As Cog's serve: webhooks and --upload-url to a server on the host reach it.
        add_hosts=[("host.docker.internal", "host-gateway")],
        cpu_fallback=containers.gpus_are_automatic(args.gpus, info.wants_gpu),
    )
    stop = threading.Event()
    try:
        _announce(args, f"{image}, {project.directory} mounted at /src", info.schema,
                  _playground_on(env))
        client = ModelClient(reachable_host(args.host), args.port)

        restarting = threading.Lock()

        def restart() -> None:
            with restarting, containers.engine_errors("cannot restart the model container"):
                containers.docker().container.restart(container, time=2)

        if args.reload:
            threading.Thread(target=_watch, args=(project, restart, stop), daemon=True).start()
        _report_ready_in_background(client, stop, once=not args.reload)
        since = None
        while True:
            # `docker logs -f` ends when the container stops, which a reload does briefly: follow again.
            with containers.engine_errors("lost the model container's logs"):
                for _source, line in containers.docker().container.logs(
                    container, follow=True, stream=True, since=since
                ):
                    sys.stderr.buffer.write(line)
                    sys.stderr.flush()
            since = datetime.now(UTC)
            with restarting:
                pass  # wait for a restart in progress to finish
            if containers.container_running(container):
                continue
            if not args.reload or containers.exit_code(container) == 0:
                break  # a clean exit (POST /shutdown) ends `cogkit serve`, as in Cog
            # A bad edit (syntax error, failing setup) stops the server: wait for the next edit.
            code = containers.exit_code(container)
            _say_waiting(code)
            while not containers.container_running(container):
                time.sleep(0.3)
        code = containers.exit_code(container)
        if code:
            print(f"the model container exited with code {code}", file=sys.stderr)
        return int(code or 0)
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
        return 130
    finally:
        stop.set()
        containers.remove_container(container)


def _say_waiting(code: int | None) -> None:
    print(
        f"The model server exited (code {code}); waiting for a change to restart it",
        file=sys.stderr,
        flush=True,
    )


def _report_ready_in_background(client: Any, stop: threading.Event, *, once: bool = False) -> None:
    """Say once per (re)start when the model reaches READY, so the user knows when to send requests.
    `once` (no reload, so no restart to report): stop asking after the first READY, so an idle poll of
    /health-check five times a second does not share the model's CPU for as long as it serves."""

    def loop() -> None:
        was_ready = False
        while not stop.wait(0.2):
            health = client.health(timeout=0.5)
            ready = bool(health) and health.get("status") in ("READY", "BUSY")
            if ready and not was_ready:
                print("Model ready", file=sys.stderr, flush=True)
                if once:
                    return
            was_ready = ready if health is not None else False

    threading.Thread(target=loop, daemon=True).start()


def serve_local(project: Project, args: argparse.Namespace, env: dict[str, str], progress: str | None) -> int:
    from cogkit.model.weights import local_weights

    with local_weights(project.config_path):  # managed weights at their targets, as in the image
        return _serve_local(project, args, env, progress)


def _serve_local(
    project: Project, args: argparse.Namespace, env: dict[str, str], progress: str | None
) -> int:
    from cogkit.docker.containers import ensure_port_free
    from cogkit.model.client import ModelClient, reachable_host
    from cogkit.model.launch import local_model, local_schema

    ensure_port_free(args.port, args.host)
    stop = threading.Event()
    restart_requested = threading.Event()
    _announce(args, "local Python environment", local_schema(project.directory, project.raw),
              _playground_on({**os.environ, **env}))
    client = ModelClient(reachable_host(args.host), args.port)
    if args.reload:
        threading.Thread(target=_watch, args=(project, restart_requested.set, stop), daemon=True).start()
    _report_ready_in_background(client, stop, once=not args.reload)
    try:
        while True:
            restart_requested.clear()
            with local_model(
                project.directory,
                project.raw,
                env=env,
                host=args.host,
                port=args.port,
                upload_url=args.upload_url,
                wait=False,
                capture_logs=False,
                progress=progress,
            ) as model:
                proc = model.extra["process"]
                if not args.reload:
                    proc.wait()  # nothing can restart it: no wake-ups while it serves
                while proc.poll() is None and not restart_requested.is_set():
                    time.sleep(0.1)
                if not restart_requested.is_set():
                    if not args.reload or proc.returncode == 0:
                        return int(proc.returncode or 0)  # a clean exit (POST /shutdown) ends serve
                    # A bad edit (syntax error, failing setup) stops the server: wait for the next edit.
                    _say_waiting(proc.returncode)
                    restart_requested.wait()
            # the port is released once the old process is gone; the next one binds it again
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
        return 130
    finally:
        stop.set()
