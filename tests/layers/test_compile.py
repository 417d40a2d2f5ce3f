"""The layer compiler: order, names, cache-relevant inputs and the image config, without an engine."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from cogkit.config import load_config
from cogkit.context.weights import SIZE_THRESHOLD
from cogkit.layers.compile import CA_PATH, DIFF_CAP, MERGE_CAP, compile_plan, pip_freeze_state
from cogkit.layers.describe import describe, render_dot, render_json, render_text
from cogkit.layers.plan import BuildOptions, plan_layers
from cogkit.llb.pb import ops_pb2

BASE = "cogkit-base:py3.11-bookworm"
PROJECT = (
    "build:\n"
    "  python_version: '3.11'\n"
    "  system_packages: [zlib1g, jq, zlib1g]\n"
    "  python_packages: [six==1.16.0, cog==0.9.0]\n"
    "  run:\n"
    "    - echo first\n"
    "    - command: cat /run/secrets/tok > /dev/null\n"
    "      mounts: [{type: secret, id: tok, target: /run/secrets/tok}]\n"
    "environment: [GREETING=hi]\n"
    "predict: predict.py:Predictor\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "cog.yaml").write_text(PROJECT)
    (tmp_path / "predict.py").write_text("class Predictor: ...\n")
    with (tmp_path / "weights.bin").open("wb") as fh:
        fh.truncate(SIZE_THRESHOLD)
    return tmp_path


def compile_project(project: Path, caps=None, **options):  # noqa: ANN001, ANN003, ANN201
    plan = plan_layers(load_config(project / "cog.yaml"), BuildOptions(base_image=BASE, **options))
    return plan, compile_plan(plan, {"config": {"Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"]}}, caps)


def test_layer_order_without_mergeop_puts_weights_below_dependencies(project: Path) -> None:
    _, compiled = compile_project(project, separate_weights=True)
    assert compiled.layers == [
        "python 3.11",
        "weights: 1 files, 10 MB",
        "system packages: jq zlib1g",
        "python packages: six==1.16.0",
        "run: echo first",
        "run: cat /run/secrets/tok > /dev/null",
        "cogkit runtime 0.1.0 + cog module",
        "code → /src",
    ]
    assert not compiled.uses_merge


def test_weights_layer_is_offered_for_early_export_below_the_dependencies(project: Path) -> None:
    _, linear = compile_project(project, separate_weights=True)
    assert [state.name for state in linear.early] == ["weights: 1 files, 10 MB"]
    early_head = linear.early[0].marshal().head
    assert early_head in {v.digest for v in describe(linear)}  # a vertex of the image graph itself
    # DiffOp: the prefix merge(base, weights), the very inputs the image's merge starts with, so the
    # containerd store's compression and unpack of the weights are the final image's own
    _, stacked = compile_project(project, caps=frozenset({MERGE_CAP, DIFF_CAP}), separate_weights=True)
    [prefix] = stacked.early
    used = {cap for meta in stacked.state.marshal().metadata.values() for cap in meta.caps}
    caps = frozenset(used | {MERGE_CAP, DIFF_CAP})  # every cap the graph uses: merge stays merge
    head = {v.digest: v for v in prefix.marshal(caps=caps).walk()}[prefix.marshal(caps=caps).head]
    assert head.kind == "merge" and head.name == "weights: 1 files, 10 MB"  # started when that step is done
    image = stacked.state.marshal(caps=caps).walk()
    [final] = [v for v in image if v.name.startswith("image = base + ")]
    assert list(head.inputs) == list(final.inputs[:2])
    _, merged = compile_project(project, caps=frozenset({MERGE_CAP}), separate_weights=True)
    assert merged.early == []  # weights on top, nothing above them to overlap with
    _, plain = compile_project(project)
    assert plain.early == []


def test_mergeop_makes_weights_and_code_independent_layers(project: Path) -> None:
    _, compiled = compile_project(project, caps=frozenset({MERGE_CAP}), separate_weights=True)
    assert compiled.uses_merge
    assert compiled.layers[-2:] == ["weights: 1 files, 10 MB", "code → /src"]
    vertices = {v.name: v for v in describe(compiled)}
    by_digest = {v.digest: v for v in vertices.values()}
    weights = vertices["weights: 1 files, 10 MB"]
    assert [by_digest[i].name for i in weights.inputs] == ["local://weights"]  # scratch-based: no parent


def test_with_diffop_the_weights_sit_below_the_dependencies(project: Path) -> None:
    """MergeOp + DiffOp (dockerd 28.5): merge(base, weights, diff(base, dependencies), code), so a
    dependency edit leaves the weights layer's chain ID alone (the containerd store unpacks nothing)."""
    caps = frozenset({MERGE_CAP, DIFF_CAP})
    _, compiled = compile_project(project, caps=caps, separate_weights=True)
    assert compiled.uses_merge and [state.name for state in compiled.early] == ["weights: 1 files, 10 MB"]
    assert compiled.layers[:2] == ["python 3.11", "weights: 1 files, 10 MB"]  # right above base + Python
    assert compiled.layers[-1] == "code → /src"
    vertices = {v.name: v for v in describe(compiled)}
    by_digest = {v.digest: v for v in vertices.values()}
    merge = vertices["image = base + weights + runtime + dependencies + code"]
    inputs = [by_digest[i].name for i in merge.inputs]
    assert inputs[1:] == [
        "weights: 1 files, 10 MB",
        "cogkit runtime 0.1.0 + cog module",  # below the dependencies: their edits leave it packed
        "dependencies (their layers, restacked)",
        "code → /src",
    ]
    assert compiled.layers[:3] == [*inputs[:2], "cogkit runtime 0.1.0 + cog module"]  # history order
    diff = vertices["dependencies (their layers, restacked)"]
    lower, upper = (by_digest[i] for i in diff.inputs)
    assert lower.digest == merge.inputs[0] and lower.name == "python 3.11"  # the merge's first input
    assert upper.name.startswith("run: ")  # the top of the dependency chain
    # The runtime is a scratch layer of its own: a dependency edit leaves its snapshot (and blob) alone.
    runtime = vertices["cogkit runtime 0.1.0 + cog module"]
    assert [by_digest[i].name for i in runtime.inputs] == ["stage cogkit runtime (not in the image)"]
    engine_caps = caps | {
        "source.image", "source.image.resolvemode", "source.local", "source.local.includepatterns",
        "source.local.excludepatterns", "source.local.sharedkeyhint", "exec.meta.base", "exec.meta.network",
        "exec.mount.bind", "exec.mount.selector", "exec.mount.cache", "exec.mount.cache.sharing",
        "exec.mount.secret", "exec.mount.tmpfs", "file.base", "meta.description",
    }  # fmt: skip
    ops = [ops_pb2.Op.FromString(op) for op in compiled.state.marshal(caps=engine_caps).ops]
    (diff_op,) = [op for op in ops if op.HasField("diff")]
    assert (diff_op.diff.lower.input, diff_op.diff.upper.input) == (0, 1) and len(diff_op.inputs) == 2
    _, without = compile_project(project, caps=frozenset({MERGE_CAP}), separate_weights=True)
    assert without.layers[-2:] == ["weights: 1 files, 10 MB", "code → /src"]  # no DiffOp: weights on top


def test_with_diffop_the_runtime_sits_below_the_dependencies_with_or_without_weights(project: Path) -> None:
    """No weights on dockerd 28.5 still stacks base + runtime + restacked dependencies + code: in the chain
    above the dependencies the runtime's 18 MB were copied, exported and unpacked again on every pip edit."""
    _, compiled = compile_project(project, caps=frozenset({MERGE_CAP, DIFF_CAP}))
    assert compiled.layers == [
        "python 3.11",
        "cogkit runtime 0.1.0 + cog module",
        "system packages: jq zlib1g",
        "python packages: six==1.16.0",
        "run: echo first",
        "run: cat /run/secrets/tok > /dev/null",
        "code → /src",
    ]  # the order the merge stacks them in (the image history is written from this list)
    vertices = {v.name: v for v in describe(compiled)}
    by_digest = {v.digest: v for v in vertices.values()}
    merge = vertices["image = base + runtime + dependencies + code"]
    assert [by_digest[i].name for i in merge.inputs] == [
        "python 3.11",
        "cogkit runtime 0.1.0 + cog module",
        "dependencies (their layers, restacked)",
        "code → /src",
    ]
    runtime = vertices["cogkit runtime 0.1.0 + cog module"]
    assert [by_digest[i].name for i in runtime.inputs] == ["stage cogkit runtime (not in the image)"]


def test_steps_that_need_no_network_get_none(project: Path) -> None:
    """The runtime's staging and the pip freeze only read files: with network none dockerd 28.5 sets up no
    sandbox for them (~0.1 s of every dependency edit). Every step that may fetch keeps the sandbox."""
    _, compiled = compile_project(project, caps=frozenset({MERGE_CAP, DIFF_CAP}))
    assert compiled.environment is not None
    modes = {
        v.name: v.op.exec.network
        for state in (compiled.state, pip_freeze_state(compiled.environment))
        for v in state.marshal().walk()
        if v.kind == "exec"
    }
    none = {name for name, mode in modes.items() if mode == ops_pb2.NetMode.NONE}
    assert none == {"stage cogkit runtime (not in the image)", "pip freeze (run.cog.pip_freeze label)"}
    assert modes["python packages: six==1.16.0"] == ops_pb2.NetMode.UNSET
    assert modes["run: echo first"] == ops_pb2.NetMode.UNSET


def test_weights_excluded_from_code_context(project: Path) -> None:
    plan, _ = compile_project(project, separate_weights=True)
    assert "weights.bin" in plan.code_excludes
    assert ".git" in plan.code_excludes
    _, without = compile_project(project)
    assert "weights: 1 files, 10 MB" not in without.layers


def test_cog_is_stripped_from_user_requirements(project: Path) -> None:
    plan, _ = compile_project(project)
    assert plan.requirements.requirements == ["six==1.16.0"]
    assert any("cog==0.9.0" in w for w in plan.warnings)


def test_secret_mount_and_ca_bundle_are_secrets_not_files(project: Path) -> None:
    _, compiled = compile_project(project, ca_cert="/etc/ssl/certs/ca-certificates.crt")
    definition = compiled.state.marshal()
    ops = {v.name: v.op for v in definition.walk()}
    run = ops["run: cat /run/secrets/tok > /dev/null"].exec
    secrets = {m.dest: m.secretOpt.ID for m in run.mounts if m.mountType == 1}
    assert secrets == {"/run/secrets/tok": "tok", CA_PATH: "cogkit-ca-cert"}
    env = dict(e.split("=", 1) for e in run.meta.env)
    assert env["SSL_CERT_FILE"] == CA_PATH and env["GREETING"] == "hi"
    config_env = compiled.image_config["config"]["Env"]
    assert not any(CA_PATH in e for e in config_env)


def test_apt_layer_uses_locked_cache_mounts_and_sorted_packages(project: Path) -> None:
    _, compiled = compile_project(project)
    op = {v.name: v.op for v in compiled.state.marshal().walk()}["system packages: jq zlib1g"].exec
    caches = {m.dest: (m.cacheOpt.ID, m.cacheOpt.sharing) for m in op.mounts if m.mountType == 3}
    assert caches == {"/var/cache/apt": ("cogkit-apt-cache", 2), "/var/lib/apt": ("cogkit-apt-lib", 2)}
    assert "--no-install-recommends" in op.meta.args[-1] and "jq zlib1g" in op.meta.args[-1]


def test_dependency_layers_ignore_code_and_weights(project: Path) -> None:
    """Editing code must not change any dependency vertex: same digests before and after."""
    _, first = compile_project(project, separate_weights=True)
    (project / "predict.py").write_text("class Predictor: pass  # edited\n")
    _, second = compile_project(project, separate_weights=True)
    names = lambda c: {v.name: v.digest for v in describe(c)}  # noqa: E731
    before, after = names(first), names(second)
    assert before == after  # local sources are content-free in the graph; content keys the copies


def test_image_config(project: Path) -> None:
    _, compiled = compile_project(project)
    config = compiled.image_config["config"]
    assert config["WorkingDir"] == "/src"
    assert config["ExposedPorts"] == {"5000/tcp": {}}
    assert config["Cmd"] == ["python", "-m", "cog.server.http"]
    assert config["Entrypoint"][-2:] == ["/opt/cogkit/lib/cogkit/runtime/pid1.py", "--"]
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["PATH"] == "/usr/bin:/bin" and env["LANG"] == "C.UTF-8"  # inherited from the base
    assert env["PYTHONUNBUFFERED"] == "1" and env["GREETING"] == "hi"
    labels = config["Labels"]
    assert json.loads(labels["run.cog.config"])["predict"] == "predict.py:Predictor"
    assert labels["run.cog.version"]


@pytest.mark.parametrize("caps", [None, {MERGE_CAP, DIFF_CAP}])
def test_reproducible_builds_write_the_history_themselves(project: Path, caps: set[str] | None) -> None:
    """With an epoch the config names every layer (the base's own entries, then cogkit's), so the exporter
    never fills history in from its cache records, whose descriptions vary with the cache's past."""
    options = BuildOptions(base_image=BASE, separate_weights=True)
    plan = plan_layers(load_config(project / "cog.yaml"), options)
    base = {"rootfs": {"diff_ids": ["sha256:a", "sha256:b"]},
            "history": [{"created_by": "one"}, {"created_by": "ENV X=1", "empty_layer": True},
                        {"created_by": "two"}]}  # fmt: skip
    assert "history" not in compile_plan(plan, base, caps).image_config
    compiled = compile_plan(plan, base, caps, source_date_epoch=1700000000)
    history = compiled.image_config["history"]
    assert [h["created_by"] for h in history] == ["one", "ENV X=1", "two", *compiled.layers]
    assert all(h["created"] == "2023-11-14T22:13:20Z" for h in history[3:])
    # a base whose history does not account for its layers gets one plain entry per layer
    bare = compile_plan(plan, {"rootfs": {"diff_ids": ["sha256:a"]}}, caps, source_date_epoch=0)
    assert [h["created_by"] for h in bare.image_config["history"]][:2] == ["base image layer", "python 3.11"]


def test_debug_renderings(project: Path) -> None:
    _, compiled = compile_project(project, separate_weights=True)
    vertices = describe(compiled)
    text = render_text(vertices)
    assert "[layer: weights: 1 files, 10 MB]" in text
    assert "build tool: uv" in text
    assert json.loads(render_json(vertices))[0]["layer"] == "base"
    assert render_dot(vertices).startswith("digraph cogkit {")


def test_apt_download_runs_beside_the_weights_not_after_them(project: Path) -> None:
    """The download side chain hangs off the bare base, so it overlaps the weights transfer."""
    _, compiled = compile_project(project, separate_weights=True)
    vertices = {v.name: v for v in describe(compiled)}
    by_digest = {v.digest: v.name for v in vertices.values()}
    download = next(v for name, v in vertices.items() if name.startswith("download system packages"))
    assert [by_digest[i] for i in download.inputs] == [f"base: {BASE}"]
    install = vertices["system packages: jq zlib1g"]
    assert download.digest in install.inputs


def test_gpu_project_gets_cuda_devel_base_and_a_python_install(tmp_path: Path) -> None:
    (tmp_path / "cog.yaml").write_text(
        "build:\n  gpu: true\n  python_version: '3.12'\n  python_packages: [torch==2.4.1]\n"
    )
    plan = plan_layers(load_config(tmp_path / "cog.yaml"), BuildOptions())
    assert plan.base.ref == "nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04"
    assert plan.base.has_python is False
    compiled = compile_plan(plan, {}, None)
    assert compiled.layers[0] == "python 3.12"
    assert plan.requirements.render().startswith("--extra-index-url https://download.pytorch.org/whl/cu124\n")
    env = dict(e.split("=", 1) for e in compiled.image_config["config"]["Env"])
    assert env["NVIDIA_DRIVER_CAPABILITIES"] == "all"


def test_cpu_project_without_override_uses_python_slim(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("COGKIT_BASE_IMAGE", raising=False)
    (tmp_path / "cog.yaml").write_text("build:\n  python_version: '3.12'\n")
    plan = plan_layers(load_config(tmp_path / "cog.yaml"), BuildOptions())
    assert plan.base.ref == "python:3.12-slim" and plan.base.has_python is True
    assert "python 3.12" not in compile_plan(plan, {}, None).layers
    monkeypatch.setenv("COGKIT_BASE_IMAGE", "example.com/base:1")
    assert plan_layers(load_config(tmp_path / "cog.yaml"), BuildOptions()).base.ref == "example.com/base:1"


def test_other_config_file_is_also_written_as_src_cog_yaml(tmp_path: Path) -> None:
    (tmp_path / "gpu.yaml").write_text("build:\n  python_version: '3.11'\n")
    plan = plan_layers(load_config(tmp_path / "gpu.yaml"), BuildOptions(base_image=BASE))
    assert plan.config_copy == (tmp_path / "gpu.yaml").read_bytes()
    op = {v.name: v.op for v in compile_plan(plan, {}, None).state.marshal().walk()}["code → /src"].file
    made = [a.mkfile for a in op.actions if a.WhichOneof("action") == "mkfile"]
    assert made and made[0].path == "/src/cog.yaml" and made[0].data == plan.config_copy


def test_uv_is_shipped_from_this_machine_or_else_pip_installed(project: Path) -> None:
    """The install steps mount uv from a local source when cogkit's install carries it, else from PyPI."""
    plan, compiled = compile_project(project)
    assert plan.host_uv_version and "cogkit-uv" in plan.local_dirs  # the dev install has uv
    names = [v.name for v in describe(compiled)]
    assert f"build tool: uv {plan.host_uv_version} from this machine (not in the image)" in names
    assert not any(name.startswith("build tool: uv") and "from this machine" not in name for name in names)

    local_dirs = {name: path for name, path in plan.local_dirs.items() if name != "cogkit-uv"}
    plan = replace(plan, host_uv_version=None, local_dirs=local_dirs)
    fallback = [v.name for v in describe(compile_plan(plan, None, None))]
    assert any(name.startswith("build tool: uv") and "from this machine" not in name for name in fallback)


def test_debug_shows_the_side_chains_solved_beside_the_image(project: Path) -> None:
    """`cogkit debug` prints what build sends: the python packages' download is a solve of its own."""
    _, compiled = compile_project(project, caps=frozenset({MERGE_CAP, DIFF_CAP}), separate_weights=True)
    layers = {v.name: v.layer for v in describe(compiled)}
    assert layers["download python packages (not in the image)"] == "(not in the image)"
    assert layers["weights: 1 files, 10 MB"] == "weights: 1 files, 10 MB"  # the image's own still attributed
