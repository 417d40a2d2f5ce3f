"""Build an image end to end: cog.yaml → layer plan → LLB → BuildKit → a named image.

Everything that can be checked without the engine (config, secrets, CA bundle, context) is
checked first, so mistakes are reported in one line before a session is opened.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from cogkit import buildkit, llb
from cogkit.buildkit.exporters import key_values
from cogkit.buildkit.naming import tag_image
from cogkit.config import Config, find_config, load_config
from cogkit.config.requirements import pins_torch
from cogkit.config.torch_index import PYTORCH, choose_torch_index, index_env
from cogkit.docker.images import load_image
from cogkit.errors import BuildError, CogkitError
from cogkit.images import probe_cache
from cogkit.images.explain import explain
from cogkit.layers.compile import CA_SECRET_ID, FREEZE_FILE, Compiled, compile_plan, pip_freeze_state
from cogkit.layers.plan import BaseImage, BuildOptions, LayerPlan, find_links_summary, plan_layers


@dataclass
class BuildRequest:
    config_file: str | os.PathLike[str] | None = None  # -f; else found from `cwd` upwards
    cwd: Path | None = None
    tag: str | None = None
    separate_weights: bool = False
    secrets: Sequence[str] = ()
    no_cache: bool = False
    progress: str = "auto"
    builder: str | None = None
    base_image: str | None = None
    ca_cert: str | None = None
    cache_from: Sequence[str] = ()
    cache_to: Sequence[str] = ()
    push: bool = False  # push from the exporter where the engine has BuildKit's image exporter
    pip_freeze: bool = True  # the run.cog.pip_freeze label (Cog skips labels for local commands too)
    insecure_registry: bool = False
    use_cog_base_image: bool | None = None  # Cog's flag; None when not given
    use_cuda_base_image: str = "auto"  # Cog's flag: only "false" turns the nvidia/cuda base off
    openapi_schema_file: str | None = None  # --openapi-schema: this schema instead of a generated one
    output: str | None = None  # --output type=oci|docker,dest=FILE: a tarball instead of an image
    pull: bool = False  # --pull: ask the registry for the base image even when the engine has it
    torch_index: str | None = None  # --torch-index auto|pytorch|pypi|URL; else $COGKIT_TORCH_INDEX
    find_links: str | None = None  # --find-links DIR; else $COGKIT_FIND_LINKS
    source_date_epoch: int | None = None  # reproducible export; else $SOURCE_DATE_EPOCH if set
    require_predictor: bool = True  # Cog: no run/predict/train ref fails the build (exec's does not)
    labels: Mapping[str, str] = field(default_factory=dict)  # extra image labels (push: run.cog.push_id)
    out: TextIO = field(default_factory=lambda: sys.stderr)


@dataclass
class LayerTime:
    name: str
    seconds: float
    cached: bool


@dataclass
class BuildOutcome:
    image: str
    image_id: str | None
    plan: LayerPlan
    compiled: Compiled
    report: buildkit.BuildReport
    layer_times: list[LayerTime]
    pushed: bool = False


def default_image_name(config: Config) -> str:
    """cog.yaml's `image:`, else cogkit-<project dir name> (lowercased, docker-safe)."""
    if config.model.image:
        return config.model.image
    if config.model.model:  # Cog 0.20+: -t > image > model > cog-<dir>
        return config.model.model
    name = re.sub(r"[^a-z0-9._-]+", "-", config.project_dir.name.lower()).strip("-._") or "model"
    return f"cogkit-{name}"


def parse_secrets(specs: Sequence[str], config: Config) -> dict[str, buildkit.SecretSource]:
    """--secret options, checked against the secrets cog.yaml declares (all must be supplied)."""
    sources: dict[str, buildkit.SecretSource] = {}
    for spec in specs:
        source = buildkit.SecretSource.parse(spec)
        source.validate()
        sources[source.id] = source
    missing = [sid for sid in config.secret_ids if sid not in sources]
    if missing:
        listed = ", ".join(repr(m) for m in missing)
        example = missing[0]
        raise CogkitError(
            f"cog.yaml mounts secret {listed} in build.run but it was not supplied",
            f"pass --secret id={example},src=PATH (a file) or --secret id={example},env=VAR",
        )
    return sources


def ca_secret(path: str | None) -> dict[str, buildkit.SecretSource]:
    if not path:
        return {}
    if not Path(path).expanduser().is_file():
        raise CogkitError(
            f"CA bundle {path} does not exist", "pass a PEM file to --ca-cert (or COGKIT_CA_CERT)"
        )
    return {CA_SECRET_ID: buildkit.SecretSource(id=CA_SECRET_ID, src=str(Path(path).expanduser()))}


def openapi_schema(config: Config) -> dict[str, Any] | None:
    """The OpenAPI schema from the predictor's source (parsed, never imported or run)."""
    if not (config.model.predict or config.model.train):
        return None
    try:
        from cogkit.schema.openapi import openapi_from_refs
    except ImportError:  # runtime without a build-time generator: leave the label out, never fake it
        return None
    return openapi_from_refs(config.model.predict, config.model.train, root=str(config.project_dir))


def schema_from_file(path: str, out: TextIO) -> dict[str, Any]:
    """Cog's --openapi-schema: a hand-written schema for the label, checked to be an OpenAPI 3 document."""
    import json

    print(f"Validating model schema from {path}...", file=out)
    try:
        text = Path(path).expanduser().read_text()
    except OSError as exc:
        raise CogkitError(
            f"Failed to read schema file: {path}: {exc.strerror or exc}",
            "check the path given to --openapi-schema",
        ) from None
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CogkitError(
            f"Model schema is invalid: {path} is not JSON ({exc.msg}, line {exc.lineno})",
            "pass the JSON that `GET /openapi.json` serves",
        ) from None
    problem = _openapi_problem(schema)
    if problem:
        raise CogkitError(
            f"Model schema is invalid: {problem}", "pass the JSON that `GET /openapi.json` serves"
        )
    return schema


def _openapi_problem(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return "the document must be a JSON object"
    version = schema.get("openapi")
    if not isinstance(version, str) or not version.startswith("3."):
        return 'missing "openapi": "3.x" version field'
    if not isinstance(schema.get("info"), dict):
        return 'missing "info" object'
    if not isinstance(schema.get("paths"), dict):
        return 'missing "paths" object'
    components = schema.get("components", {})
    if not isinstance(components, dict) or not isinstance(components.get("schemas", {}), dict):
        return '"components.schemas" must be an object'
    return None


def prepare(request: BuildRequest) -> tuple[Config, LayerPlan, dict[str, buildkit.SecretSource]]:
    """Load config, plan layers and check secrets: everything that needs no engine."""
    config = load_config(find_config(request.cwd, request.config_file))
    torch_index, warnings = PYTORCH, []
    if pins_torch(config.requirements):  # probe PyTorch's index only for a build that needs it
        torch_index, warnings = choose_torch_index(request.torch_index)
    options = BuildOptions(
        request.separate_weights,
        request.base_image,
        request.ca_cert,
        use_cuda_base_image=request.use_cuda_base_image != "false",
        torch_index=torch_index,
        find_links=request.find_links,
        index_env=index_env(),
    )
    plan = plan_layers(config, options)
    plan.warnings.extend(warnings)
    secrets = {**parse_secrets(request.secrets, config), **ca_secret(plan.ca_cert)}
    return config, plan, secrets


RESOLVE_WHY = {
    "pull": "resolve mode pull (--pull: the registry is asked even if the engine has it)",
    "local": "resolve mode local (the engine's copy when it has one, else pulled; --pull asks the registry)",
    "default": "resolve mode default (this dockerd takes its own copy first; --pull asks the registry)",
}


def package_sources(plan: LayerPlan) -> list[str]:
    """Where the install steps get packages from, one line each (shown unless --progress quiet)."""
    lines = []
    if plan.index_env:
        lines.append(f"python packages: from your mirror {plan.index_env['UV_DEFAULT_INDEX']}")
    if pins_torch(plan.config.requirements):
        cuda = plan.config.cuda.torch_cuda if plan.config.gpu else None
        url = plan.torch_index.url(cuda)
        lines.append(f"torch: {plan.torch_index.why}" + (f", {url}" if url else ""))
    if plan.find_links is not None:
        lines.append(
            f"find-links {plan.find_links}: {find_links_summary(plan.find_links)}, "
            "mounted into the install steps only (not in the image)"
        )
    if plan.requirements.local_paths:
        shown = ", ".join(plan.requirements.local_paths)
        lines.append(f"project packages from requirements: {shown} (mounted into the install steps)")
    return lines


def source_date_epoch(request: BuildRequest) -> int | None:
    """The request's epoch, else $SOURCE_DATE_EPOCH (the reproducible-builds convention buildx follows)."""
    if request.source_date_epoch is not None:
        return request.source_date_epoch
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise CogkitError(
            f"SOURCE_DATE_EPOCH={value!r} is not a Unix time",
            "use whole seconds, e.g. $(git log -1 --format=%ct)",
        )
    return int(value)


def resolve_mode(client: buildkit.Client, pull: bool) -> str:
    """How BuildKit finds the base image. dockerd's classic store already prefers its local images;
    BuildKit's own resolver (containerd image store, standalone buildkitd) asks the registry first,
    so a base the engine has would cost a registry round trip (and fail offline) without "local"."""
    if pull:
        return "pull"
    return "local" if client.exports_images else "default"


OUTPUT_TYPES = {"docker": buildkit.DockerTarExporter, "oci": buildkit.OciTarExporter}


def parse_output(spec: str) -> tuple[str, str]:
    """`type=oci|docker,dest=FILE` (as buildx spells it) -> (type, absolute path)."""
    fields = key_values(spec, f"malformed output {spec!r}", "use type=oci,dest=FILE or type=docker,dest=FILE")
    kind, dest = fields.pop("type", ""), fields.pop("dest", "")
    if kind not in OUTPUT_TYPES or not dest or fields:
        raise CogkitError(
            f"unsupported output {spec!r}", "use type=oci,dest=FILE or type=docker,dest=FILE (a tarball)"
        )
    return kind, os.path.abspath(os.path.expanduser(dest))


def _exporter(client: buildkit.Client, request: BuildRequest, image: str, tarball: str) -> Any:
    """moby on dockerd's classic store; BuildKit's own exporters where the engine has them (a standalone
    buildkitd, or dockerd with the containerd image store): a push straight from the builder, a tarball.

    dockerd with the containerd image store exports unnamed and build() names the image afterwards
    (see tag_image: naming inside the export races containerd's snapshot GC)."""
    if request.output:
        kind, dest = parse_output(request.output)
        return OUTPUT_TYPES[kind](dest, names=[image])
    if request.push and client.exports_images:
        return buildkit.ImageExporter(names=[image], push=True, insecure=request.insecure_registry)
    if client.is_docker:
        return buildkit.MobyExporter(names=[] if client.exports_images else [image])
    return buildkit.DockerTarExporter(tarball, names=[image])


# containerd's GC can delete the snapshot an export is unpacking onto while another build removes
# an image sharing that layer (seen under load even with the image exported unnamed); the steps are
# all cached by then, so exporting again costs only the export.
_EXPORT_RACE = re.compile(r"failed to prepare extraction snapshot .*parent snapshot \S+ does not exist")
EXPORT_ATTEMPTS = 3


def export_raced(err: CogkitError) -> bool:
    """The export lost a snapshot to containerd's GC (worth exporting again), not a build failure."""
    return bool(_EXPORT_RACE.search(err.message))


def layer_times(report: buildkit.BuildReport, compiled: Compiled) -> list[LayerTime]:
    """Seconds per image layer (by vertex name), in layer order."""
    by_name = {v.name: v for v in report.vertices}
    out = []
    for name in compiled.layers:
        vertex = by_name.get(name)
        if vertex is None:
            continue
        seconds = (vertex.completed - vertex.started) if vertex.started and vertex.completed else 0.0
        out.append(LayerTime(name, seconds, vertex.cached))
    return out


def probe_python(gateway: buildkit.Gateway, plan: LayerPlan) -> BaseImage:
    """Look inside an overridden base for the requested Python before compiling.

    Knowing it up front drops the Python layer (and its wait for the uv side chain) when the base
    already has the version, so the weights start copying at once; a few stats on the solved base.
    """
    version = plan.python_version
    base = llb.image(plan.base.ref, resolve_mode=plan.base.resolve_mode)
    ref = gateway.solve(base.marshal(caps=gateway.caps))
    dirs = ("/usr/local/bin", "/usr/bin")
    # The image's CMD runs `python`, so the plain name must be there too (the layer would add it).
    found = all(
        any(gateway.path_exists(ref, f"{d}/{name}") for d in dirs) for name in (f"python{version}", "python")
    )
    return replace(plan.base, has_python=found)


@dataclass(kw_only=True)
class ImageResult(buildkit.BuildResult):
    """The graph handed to BuildKit, plus the plan as the build completed it and its compilation."""

    plan: LayerPlan
    compiled: Compiled


def pip_freeze_label(gateway: buildkit.Gateway, compiled: Compiled) -> None:
    """Add Cog's run.cog.pip_freeze label: pip freeze of the model's environment, read back from the
    engine after the image is built and before its config is returned (by then the environment is
    cached, so only the freeze itself runs)."""
    if compiled.environment is None:
        return
    state = pip_freeze_state(compiled.environment)
    ref = gateway.solve(state.marshal(caps=gateway.caps), evaluate=True)
    text = gateway.read_file(ref, FREEZE_FILE).decode("utf-8", errors="replace")
    compiled.image_config["config"]["Labels"]["run.cog.pip_freeze"] = text


def beside_image(compiled: Compiled, pip_freeze: bool) -> Callable[[buildkit.Gateway], None] | None:
    """What to solve beside the image graph, all at once: its side chains (the python packages'
    download, which fills the uv cache the install reads) and the pip freeze label. A side chain that
    fails leaves the image as it is: the install step runs the same resolve and reports the error."""
    if not compiled.beside and not pip_freeze:
        return None

    def solve(gateway: buildkit.Gateway) -> None:
        def side(state: llb.State) -> None:
            with contextlib.suppress(Exception):
                gateway.solve(state.marshal(caps=gateway.caps), evaluate=True)

        threads = [threading.Thread(target=side, args=(s,), daemon=True) for s in compiled.beside]
        for thread in threads:
            thread.start()
        try:
            if pip_freeze:
                pip_freeze_label(gateway, compiled)
        finally:
            for thread in threads:
                thread.join()

    return solve


def solve_image(
    gateway: buildkit.Gateway,
    plan: LayerPlan,
    schema: dict[str, Any] | None,
    source_date_epoch: int | None = None,
    pip_freeze: bool = False,
    labels: Mapping[str, str] | None = None,
    remembered_probe: bool = True,
) -> ImageResult:
    """The build function: finish the plan with what the engine knows (base config, Python), compile it.

    `remembered_probe`: take the base's Python from the on-disk probe cache when it has this image
    (images/probe_cache.py); --no-cache probes again."""
    _, base_config = gateway.resolve_image_config(
        llb.normalize_image_ref(plan.base.ref), resolve_mode=plan.base.resolve_mode
    )
    if plan.base.has_python is None:
        key = probe_cache.image_key(base_config)
        known = probe_cache.lookup(key, plan.python_version) if remembered_probe else None
        if known is None:
            plan = replace(plan, base=probe_python(gateway, plan))
            assert plan.base.has_python is not None
            probe_cache.remember(key, plan.python_version, plan.base.has_python)
        else:
            plan = replace(plan, base=replace(plan.base, has_python=known))
    compiled = compile_plan(plan, base_config, gateway.caps, schema, source_date_epoch)
    if labels:  # config only: no layer and no cache key changes
        compiled.image_config["config"]["Labels"].update(labels)
    return ImageResult(
        definition=compiled.state.marshal(caps=gateway.caps),
        image_config=compiled.image_config,
        early_layers=[state.marshal(caps=gateway.caps) for state in compiled.early],
        before_return=beside_image(compiled, pip_freeze),
        plan=plan,
        compiled=compiled,
    )


NO_PREDICTOR = "no predict or train reference found in cog.yaml"


def check_predictor_reference(config: Config, request: BuildRequest) -> None:
    """Cog fails a build that has nothing to serve before any step runs: static schema generation
    (pkg/schema/openapi/generate.go, called from pkg/image/build.go) needs the run/predict or train
    ref, so `cog build`, `push`, `run` and `serve` stop with this line. `--openapi-schema` supplies
    the schema instead and builds anyway, as Cog's does; `exec` needs no model."""
    if not request.require_predictor or request.openapi_schema_file:
        return
    if config.model.predict or config.model.train:
        return
    raise CogkitError(
        f"{config.path.name}: {NO_PREDICTOR}",
        'add `run: "run.py:Runner"` (or the older `predict: "predict.py:Predictor"`) naming the model '
        "class, or use `cogkit exec` to run a command without a model",
    )


def build(request: BuildRequest, connection: buildkit.PendingConnection | None = None) -> BuildOutcome:
    """Build the image. `connection`: a connect() to request.builder already under way (the CLI
    starts it before importing this module), taken over once the engine is needed."""
    config, plan, secrets = prepare(request)
    check_predictor_reference(config, request)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=request.out)
    if request.use_cog_base_image:
        print(
            "warning: --use-cog-base-image: Cog's r8.im/cog-base images are not reachable from here; "
            "continuing without base image support",
            file=request.out,
        )
    image = request.tag or default_image_name(config)
    if request.push and "/" not in image:  # before the build: an exporter would push it to Docker Hub
        raise CogkitError(
            f"{image} has no registry in its name",
            "push to a name like registry.example.com/me/model (set image: in cog.yaml or pass IMAGE)",
        )
    if request.openapi_schema_file:
        schema = schema_from_file(request.openapi_schema_file, request.out)
    else:
        schema = openapi_schema(config)
    epoch = source_date_epoch(request)

    with tempfile.TemporaryDirectory(prefix="cogkit-build-") as scratch_dir:
        tarball = os.path.join(scratch_dir, "image.tar")
        client = connection.result() if connection is not None else buildkit.connect(request.builder)
        try:
            exporter = _exporter(client, request, image, tarball)
            plan = replace(plan, base=replace(plan.base, resolve_mode=resolve_mode(client, request.pull)))
            if request.progress != "quiet":
                print(f"base image {plan.base.ref}: {RESOLVE_WHY[plan.base.resolve_mode]}", file=request.out)
                for line in package_sources(plan):
                    print(line, file=request.out)
            for attempt in range(1, EXPORT_ATTEMPTS + 1):
                try:
                    report = client.build(
                        lambda gateway: solve_image(
                            gateway,
                            plan,
                            schema,
                            epoch,
                            request.pip_freeze,
                            request.labels,
                            remembered_probe=not request.no_cache,
                        ),
                        exporter=exporter,
                        local_dirs=plan.local_dirs,
                        secrets=secrets,
                        cache_from=request.cache_from,
                        cache_to=request.cache_to,
                        no_cache=request.no_cache,
                        source_date_epoch=epoch,
                        progress=request.progress,  # type: ignore[arg-type]
                        progress_out=request.out,
                    )
                    break
                except BuildError as err:
                    if attempt < EXPORT_ATTEMPTS and client.exports_images and export_raced(err):
                        print(
                            "warning: the engine lost a snapshot while exporting (containerd's GC, racing "
                            "another build that removed an image); exporting again",
                            file=request.out,
                        )
                        continue
                    raise explain(err) from None
            image_id = report.image_id
            if isinstance(exporter, buildkit.MobyExporter) and not exporter.names:
                tag_image(client.address, image_id, image)
            if isinstance(exporter, buildkit.DockerTarExporter) and exporter.path == tarball:
                # a standalone builder's image, promised in Docker
                load_image(tarball, image, request.progress, request.out)
        finally:
            _close_in_background(client)
    result = report.result
    assert result is not None  # solve_image always returns one
    return BuildOutcome(
        image,
        image_id,
        result.plan,
        result.compiled,
        report,
        layer_times(report, result.compiled),
        pushed=isinstance(exporter, buildkit.ImageExporter) and exporter.push,
    )


def _close_in_background(client: buildkit.Client) -> None:
    """Closing a gRPC channel waits ~150 ms for its polling thread; nobody needs to wait for that."""
    threading.Thread(target=client.close, name="cogkit-close", daemon=True).start()
