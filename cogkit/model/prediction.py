"""The shared body of `cogkit predict` and `cogkit train`: inputs → model → output.

Order matters for the user: parse and validate every input against the schema first (cheap,
clear errors), then start the model, then print or write the output. The schema comes from the
image label, or the project's source in --local mode; only when neither has one is the live
server's /openapi.json used (validation then happens after start, still before the request).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from cogkit.errors import CogkitError


def collect_inputs(args: argparse.Namespace) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(raw -i values, or None for --json; parsed --json values). Fails fast on malformed flags."""
    from cogkit.model.inputs import load_json_inputs, parse_input_flags

    if args.json is not None and args.input:
        raise CogkitError("use either --json or -i, not both", hint="put every input in the --json object")
    if args.json is not None:
        return None, load_json_inputs(args.json, base_dir=Path.cwd())
    return parse_input_flags(args.input), {}


def prepare_payload(
    raw: dict[str, Any] | None, json_inputs: dict[str, Any], schema: dict[str, Any] | None, mode: str,
    run_dir: Any = None,
) -> dict[str, Any]:
    """The request's input; with `run_dir` (--local), `@file` inputs are links in it, not data URLs."""
    from cogkit.model.inputs import coerce_inputs, validate_inputs

    if raw is not None and run_dir is not None:
        raw = run_dir.stage(raw, schema, mode, base_dir=Path.cwd())
    payload = json_inputs if raw is None else coerce_inputs(raw, schema, mode=mode, base_dir=Path.cwd())
    validate_inputs(payload, schema, mode=mode)
    return payload


def run_model(args: argparse.Namespace, mode: str) -> int:
    from contextlib import nullcontext

    from cogkit.docker.containers import parse_env_flags
    from cogkit.interrupts import sigterm_as_interrupt
    from cogkit.model.local_files import INPUT_DIR_ENV, RunInputDir

    env = parse_env_flags(args.env)
    raw, json_inputs = collect_inputs(args)
    progress = getattr(args, "progress", None)
    with sigterm_as_interrupt(), (RunInputDir() if args.local else nullcontext()) as run_dir:
        if run_dir is not None:  # the local server accepts paths inside this dir only (docs/security.md)
            env[INPUT_DIR_ENV] = run_dir.path
        prepare = _prepare_local if args.local else _prepare_image
        schema, start = prepare(args, mode, env, progress)
        # Inputs are checked before the model starts whenever the schema is known up front.
        payload = prepare_payload(raw, json_inputs, schema, mode, run_dir) if schema else None
        with start() as model:
            _print_setup_logs(model, progress)
            if payload is None:
                payload = prepare_payload(raw, json_inputs, model.ensure_schema(), mode, run_dir)
            return _predict_and_write(model, payload, args, mode)


def _print_setup_logs(model: Any, progress: str | None) -> None:
    """What setup() printed, on stderr, even when it succeeded (Cog shows the container's output)."""
    if progress == "quiet":
        return
    health = model.client.health(timeout=2) or {}
    logs = str((health.get("setup") or {}).get("logs") or "")
    if logs:
        sys.stderr.write(logs if logs.endswith("\n") else logs + "\n")
        sys.stderr.flush()


# (the schema known before start, or None; a callable that starts the model when entered)
_Prepared = tuple[dict[str, Any] | None, Callable[[], AbstractContextManager[Any]]]


def _prepare_local(
    args: argparse.Namespace, mode: str, env: dict[str, str], progress: str | None
) -> _Prepared:
    from cogkit.model.launch import local_model, local_schema
    from cogkit.model.project import load_project

    if args.image:
        raise CogkitError(
            "--local runs the project in this directory, not an image",
            hint=f"drop the image name, or drop --local to run {args.image}",
        )
    from cogkit.model.weights import local_weights

    project = load_project(args.config_file)
    schema = local_schema(project.directory, project.raw, mode)

    @contextlib.contextmanager
    def start() -> Iterator[Any]:
        # managed weights at their targets, as in the image (and the same drift gate)
        with local_weights(project.config_path), local_model(
            project.directory,
            project.raw,
            env=env,
            setup_timeout=args.setup_timeout,
            progress=progress,
            mode=mode,
            schema=schema,
        ) as model:
            yield model

    return schema, start


def _prepare_image(
    args: argparse.Namespace, mode: str, env: dict[str, str], progress: str | None
) -> _Prepared:
    from cogkit.docker import containers
    from cogkit.model.launch import image_model

    image = args.image
    volumes: list[tuple[str, ...]] = []
    weights_project = None
    if image is None:
        from cogkit.model.project import base_image_flags, build_project_image, load_project
        from cogkit.model.weights import check_drift

        # As in Cog: the project is mounted over /src, so ./weights and fresh edits are what runs.
        project = load_project(args.config_file)
        weights_project = check_drift(project.config_path)  # managed weights: stale lock stops here
        image = build_project_image(args.config_file, progress=progress, flags=base_image_flags(args))
        volumes.append((str(project.directory), "/src"))
    if args.image is None:
        info = containers.inspect_image(image)
    else:
        from cogkit.model.spinner import Spinner

        spinner = Spinner(progress)
        info = containers.ensure_image(image, on_pull=spinner.update, progress=spinner.mode)
        spinner.done()
    if not info.is_model:
        raise CogkitError(
            f"{image} is not a model image (it has no run.cog.* labels)",
            hint="build one from a cog.yaml project with `cogkit build -t NAME`",
        )
    schema = info.schema

    @contextlib.contextmanager
    def start() -> Iterator[Any]:
        from cogkit.model.weights import weight_mounts

        # GPUs are resolved after the inputs were checked, so a bad input is reported first.
        with contextlib.ExitStack() as stack:
            mounts = stack.enter_context(weight_mounts(weights_project)) if weights_project else []
            yield stack.enter_context(_image_model(mounts))

    def _image_model(mounts: list[tuple[str, ...]]) -> AbstractContextManager[Any]:
        return image_model(
            image,
            env=env,
            gpus=containers.resolve_gpus(args.gpus, info.wants_gpu),
            cpu_fallback=containers.gpus_are_automatic(args.gpus, info.wants_gpu),
            setup_timeout=args.setup_timeout,
            progress=progress,
            schema=schema,
            command=server_command(mode, info.cmd),
            purpose=mode,
            volumes=[*volumes, *mounts],
        )

    return schema, start


def server_command(mode: str, image_cmd: list[str] | None = None) -> list[str]:
    """The image's own server, kept up after a failed setup so /health-check can hand over its logs.

    Training mode serves /trainings too.
    """
    from cogkit.model.launch import cog_server_command

    cmd = [*cog_server_command(image_cmd), "--await-explicit-shutdown", "true"]
    return cmd + (["--x-mode", "train"] if mode == "train" else [])


def _streams_text(output_schema: dict[str, Any] | None) -> bool:
    """True for `ConcatenateIterator[str]`-style outputs: worth printing token by token."""
    if not output_schema or output_schema.get("type") != "array":
        return False
    items = output_schema.get("items") or {}
    return output_schema.get("x-cog-array-display") == "concatenate" and items.get("type") == "string"


def _predict_and_write(model: Any, payload: dict[str, Any], args: argparse.Namespace, mode: str) -> int:
    from cogkit.model.client import PredictionFailedError, failure_message
    from cogkit.model.outputs import OutputWriter, output_component

    output_schema = output_component(model.schema, mode)
    if args.json is not None:
        return _write_prediction_json(model.client.predict(payload, mode=mode), args)
    # What the model prints (progress, warnings) goes to stderr; stdout carries the output alone.
    show_logs = getattr(args, "progress", None) != "quiet"
    streamed = logged = False
    # On a terminal tokens stream as they come; a pipe gets Cog's JSON list at the end.
    on_terminal = sys.stdout.isatty()
    if on_terminal and _streams_text(output_schema) and not args.output:

        def print_chunk(chunk: Any) -> None:
            nonlocal streamed
            if isinstance(chunk, str):
                sys.stdout.write(chunk)
                sys.stdout.flush()
                streamed = True

        def print_log(text: str) -> None:
            nonlocal logged
            if show_logs:
                sys.stderr.write(text)
                sys.stderr.flush()
                logged = True

        response = model.client.predict_streaming(payload, print_chunk, mode=mode, on_log=print_log)
        if streamed:
            sys.stdout.write("\n")
            sys.stdout.flush()
    else:
        response = model.client.predict(payload, mode=mode)
    status = response.get("status")
    if status != "succeeded":
        message, hint = failure_message(response)
        raise PredictionFailedError(message, hint=hint)
    if show_logs and not logged and response.get("logs"):
        logs = str(response["logs"])
        sys.stderr.write(logs if logs.endswith("\n") else logs + "\n")
        sys.stderr.flush()
    if streamed:
        return 0
    # `cogkit train` writes a file output to ./weights by default; text and JSON still go to stdout then.
    default = "weights" if mode == "train" else None
    target = args.output or default
    writer = OutputWriter(
        output_path=Path(target) if target else None,
        stdout=sys.stdout,
        text_to_file=args.output is not None,
        join_tokens=on_terminal,
    )
    writer.write(response.get("output"), output_schema)
    sys.stdout.flush()
    return 0


def _write_prediction_json(response: dict[str, Any], args: argparse.Namespace) -> int:
    """Cog's --json mode: the whole prediction as JSON, to -o or stdout; exit 1 unless it succeeded."""
    import json

    text = json.dumps(response, indent=2) + "\n"
    if args.output:
        target = Path(args.output)
        if target.suffix != ".json":
            print(f"warning: --output value does not have a .json suffix: {target}", file=sys.stderr)
        target.write_text(text)
        print(f"Written output to: {target}", file=sys.stderr)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0 if response.get("status") == "succeeded" else 1
