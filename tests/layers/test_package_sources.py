"""What the install steps receive, read back from the LLB the compiler produces (no engine, no GPU):
torch's index and wheel spec on CPU and GPU builds, --find-links, a PyPI mirror, and the project's
own wheels and package directories named in requirements.txt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cogkit.config import load_config
from cogkit.config.compat import TORCH_INDEX
from cogkit.config.requirements import LOCAL_MOUNT
from cogkit.config.torch_index import TorchIndex
from cogkit.errors import CogkitError, ConfigError
from cogkit.layers.compile import DIFF_CAP, FIND_LINKS_MOUNT, LOCAL_SOURCE_MOUNT, MERGE_CAP, compile_plan
from cogkit.layers.plan import FIND_LINKS, LOCAL_PACKAGES, BuildOptions, plan_layers

INSTALL = "python packages: "
TORCH_FIRST = "python packages (torch first): "
PREFETCH = "download python packages (not in the image)"


def compiled_ops(project: Path, **options: Any) -> tuple[Any, dict[str, Any]]:
    """The plan and every named vertex: the image's and its side chains' (solved beside it)."""
    plan = plan_layers(load_config(project / "cog.yaml"), BuildOptions(**options))
    compiled = compile_plan(plan, {}, None)
    ops = {}
    for state in [compiled.state, *compiled.beside]:
        ops.update({v.name: v for v in state.marshal().walk()})
    return plan, ops


def test_the_download_is_solved_beside_the_image_and_the_install_never_waits_for_it(tmp_path: Path) -> None:
    """A dependency edit must not wait for a second resolve and container start before the install."""
    project = write(tmp_path / "p", CPU, "six==1.16.0\n")
    plan = plan_layers(load_config(project / "cog.yaml"), BuildOptions(base_image="python:3.11-slim"))
    compiled = compile_plan(plan, {}, None)
    image = {v.name for v in compiled.state.marshal().walk()}
    assert PREFETCH not in image and any(n.startswith(INSTALL) for n in image)
    assert [s.name for s in compiled.beside] == [PREFETCH]
    prefetch = next(v for v in compiled.beside[0].marshal().walk() if v.name == PREFETCH)
    script = prefetch.op.exec.meta.args[-1]
    assert "flock 9" in script and "/root/.cache/uv/.cogkit-prefetch/$key" in script  # kept between builds


def install_step(ops: dict[str, Any]) -> Any:
    return next(v for name, v in ops.items() if name.startswith(INSTALL))


def requirements_txt(ops: dict[str, Any]) -> str:
    op = ops["requirements.txt"].op.file
    return op.actions[0].mkfile.data.decode()


def mounts(vertex: Any, ops: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """dest -> (name of the vertex mounted there, readonly) for the step's bind mounts."""
    by_digest = {v.digest: v for v in ops.values()}
    found = {}
    for mount in vertex.op.exec.mounts:
        if mount.mountType == 0 and mount.input >= 0 and mount.dest != "/":
            source = by_digest[vertex.inputs[mount.input][0]]
            found[mount.dest] = (source.name, mount.readonly)
    return found


def local_source(vertex: Any, ops: dict[str, Any], dest: str) -> Any:
    by_digest = {v.digest: v for v in ops.values()}
    mount = next(m for m in vertex.op.exec.mounts if m.dest == dest)
    return by_digest[vertex.inputs[mount.input][0]].op.source


def env(vertex: Any) -> dict[str, str]:
    return dict(e.split("=", 1) for e in vertex.op.exec.meta.env)


def write(project: Path, cog_yaml: str, requirements: str | None = None) -> Path:
    project.mkdir(parents=True, exist_ok=True)
    (project / "cog.yaml").write_text(cog_yaml)
    if requirements is not None:
        (project / "requirements.txt").write_text(requirements)
    return project


GPU = "build:\n  gpu: true\n  python_version: '3.11'\n  python_requirements: requirements.txt\n"
CPU = "build:\n  python_version: '3.11'\n  python_requirements: requirements.txt\n"


def test_gpu_torch_gets_the_cuda_base_the_cuda_index_and_the_plain_wheel_spec(tmp_path: Path) -> None:
    project = write(tmp_path, GPU, "torch==2.4.1\nnumpy==2.1.0\n")
    plan, ops = compiled_ops(project)
    assert plan.base.ref == "nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04"
    assert "base: nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04" in ops
    assert ops["base: nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04"].op.source.identifier == (
        "docker-image://docker.io/nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04"
    )
    assert requirements_txt(ops) == f"--extra-index-url {TORCH_INDEX}/cu124\ntorch==2.4.1\nnumpy==2.1.0\n"
    step = install_step(ops)
    assert mounts(step, ops)["/cogkit/req"] == ("requirements.txt", True)
    assert "-r /cogkit/req/requirements.txt" in step.op.exec.meta.args[-1]
    assert env(step)["UV_COMPILE_BYTECODE"] == "1"  # .pyc in the layer, as pip writes them
    torch_layer = next(v for name, v in ops.items() if name.startswith(TORCH_FIRST))
    torch_file = ops["requirements.txt (torch first)"].op.file.actions[0].mkfile.data.decode()
    assert torch_file == f"--extra-index-url {TORCH_INDEX}/cu124\ntorch==2.4.1\n"
    assert mounts(torch_layer, ops)["/cogkit/req"] == ("requirements.txt (torch first)", True)
    assert torch_layer.digest in [d for d, _ in step.inputs]  # the rest installs on top of torch


def test_torch_gets_its_own_layer_below_the_rest_and_is_exported_early(tmp_path: Path) -> None:
    project = write(tmp_path, CPU, "torch==2.13.0\nsix==1.16.0\n")
    plan = plan_layers(load_config(project / "cog.yaml"), BuildOptions(base_image="python:3.11-slim"))
    compiled = compile_plan(plan, {}, None)
    assert [n for n in compiled.layers if n.startswith("python packages")] == [
        "python packages (torch first): torch==2.13.0+cpu",
        "python packages: torch==2.13.0+cpu six==1.16.0",
    ]
    assert [state.name for state in compiled.early] == ["python packages (torch first): torch==2.13.0+cpu"]
    # A pip edit must not touch the torch layer: same digest with another package added.
    (project / "requirements.txt").write_text("torch==2.13.0\nsix==1.16.0\nidna==3.7\n")
    edited = compile_plan(
        plan_layers(load_config(project / "cog.yaml"), BuildOptions(base_image="python:3.11-slim")), {}, None
    )
    assert edited.early[0].marshal().head == compiled.early[0].marshal().head
    only_torch = write(tmp_path / "t", CPU, "torch==2.13.0\n")
    plan = plan_layers(load_config(only_torch / "cog.yaml"), BuildOptions(base_image="python:3.11-slim"))
    assert [n for n in compile_plan(plan, {}, None).layers if n.startswith("python packages")] == [
        "python packages: torch==2.13.0+cpu"
    ]


def test_gpu_torch_from_a_mirror_of_pytorchs_index(tmp_path: Path) -> None:
    project = write(tmp_path, GPU, "torch==2.4.1\n")
    _, ops = compiled_ops(project, torch_index=TorchIndex("url", "https://m.example/whl"))
    assert requirements_txt(ops) == "--extra-index-url https://m.example/whl/cu124\ntorch==2.4.1\n"


def test_gpu_torch_from_pypi_keeps_the_pin_as_written(tmp_path: Path) -> None:
    project = write(tmp_path, GPU, "torch==2.4.1\n")
    plan, ops = compiled_ops(project, torch_index=TorchIndex("pypi"))
    assert plan.base.ref.startswith("nvidia/cuda:12.4")  # the base still follows torch's CUDA
    assert requirements_txt(ops) == "torch==2.4.1\n"  # PyPI's Linux torch wheels are CUDA builds


def test_cpu_torch_from_pytorch_and_from_pypi(tmp_path: Path) -> None:
    project = write(tmp_path, CPU, "torch==2.13.0\n")
    plan, ops = compiled_ops(project, base_image="python:3.11-slim")
    assert requirements_txt(ops) == f"--extra-index-url {TORCH_INDEX}/cpu\ntorch==2.13.0+cpu\n"
    _, ops = compiled_ops(project, base_image="python:3.11-slim", torch_index=TorchIndex("pypi"))
    assert requirements_txt(ops) == "torch==2.13.0\n"


def test_mirror_reaches_every_uv_step(tmp_path: Path) -> None:
    project = write(tmp_path, CPU, "six==1.16.0\n")
    mirror = {"UV_DEFAULT_INDEX": "https://pypi.mirror.example/simple"}
    _, ops = compiled_ops(project, base_image="python:3.11-slim", index_env=mirror)
    for name in (
        next(n for n in ops if n.startswith(INSTALL)),
        PREFETCH,
        "cogkit runtime dependencies (aiohttp, msgspec, …)",
    ):
        assert env(ops[name])["UV_DEFAULT_INDEX"] == mirror["UV_DEFAULT_INDEX"], name


def test_find_links_is_a_read_only_local_mount_of_the_install_steps_only(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "six-1.16.0-py2.py3-none-any.whl").write_bytes(b"PK")
    project = write(tmp_path / "p", CPU, "six==1.16.0\n")
    plan, ops = compiled_ops(project, base_image="python:3.11-slim", find_links=str(wheels))
    assert plan.local_dirs[FIND_LINKS] == str(wheels)
    for step in (install_step(ops), ops[PREFETCH]):
        assert env(step)["UV_FIND_LINKS"] == FIND_LINKS_MOUNT
        source = local_source(step, ops, FIND_LINKS_MOUNT)
        assert source.identifier == f"local://{FIND_LINKS}"
        assert mounts(step, ops)[FIND_LINKS_MOUNT][1] is True
    copies = [v for v in ops.values() if v.op.WhichOneof("op") == "file"]
    assert not any(f"local://{FIND_LINKS}" in str(c.inputs) for c in copies)  # never copied into a layer
    code_and_image = {
        FIND_LINKS_MOUNT in str(v.op) for v in ops.values() if v.name.startswith(("code", "cogkit runtime"))
    }
    assert code_and_image <= {False}


def test_find_links_from_the_environment_and_a_bad_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = write(tmp_path / "p", CPU, "six==1.16.0\n")
    monkeypatch.setenv("COGKIT_FIND_LINKS", str(tmp_path))
    plan, _ = compiled_ops(project, base_image="python:3.11-slim")
    assert plan.find_links == str(tmp_path)
    with pytest.raises(CogkitError) as caught:
        compiled_ops(project, base_image="python:3.11-slim", find_links=str(tmp_path / "nope"))
    assert "is not a directory" in caught.value.message and "--find-links DIR" in (caught.value.hint or "")


def test_local_wheel_and_package_dir_are_mounted_from_the_project(tmp_path: Path) -> None:
    project = write(tmp_path, CPU, "./dist/tiny-1.0-py3-none-any.whl\n-e ./pkg\nsix==1.16.0\n")
    (project / "dist").mkdir()
    (project / "dist" / "tiny-1.0-py3-none-any.whl").write_bytes(b"PK")
    (project / "pkg").mkdir()
    (project / "pkg" / "pyproject.toml").write_text("[project]\nname = 'pkg'\nversion = '1'\n")
    plan, ops = compiled_ops(project, base_image="python:3.11-slim")
    assert plan.requirements.local_paths == ["dist/tiny-1.0-py3-none-any.whl", "pkg"]
    assert plan.local_dirs[LOCAL_PACKAGES] == str(project)
    assert requirements_txt(ops) == (
        f"{LOCAL_MOUNT}/dist/tiny-1.0-py3-none-any.whl\n{LOCAL_MOUNT}/pkg\nsix==1.16.0\n"
    )
    assert any("-e ./pkg is installed as a regular package" in w for w in plan.warnings)
    for step in (install_step(ops), ops[PREFETCH]):
        source = local_source(step, ops, LOCAL_SOURCE_MOUNT)
        assert source.identifier == f"local://{LOCAL_PACKAGES}"
        assert mounts(step, ops)[LOCAL_SOURCE_MOUNT][1] is True  # read-only: keyed on its content
        tmpfs = [m for m in step.op.exec.mounts if m.dest == LOCAL_MOUNT]
        assert tmpfs and tmpfs[0].mountType == 4  # the writable copy lives in a tmpfs, not the layer
        assert f"cp -a {LOCAL_SOURCE_MOUNT}/. {LOCAL_MOUNT}/" in step.op.exec.meta.args[-1]
        assert source.attrs["local.includepattern"] == '["dist/tiny-1.0-py3-none-any.whl","pkg"]'


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "./dist/missing-1.0-py3-none-any.whl",
            "requirements.txt: ./dist/missing-1.0-py3-none-any.whl does not exist",
        ),
        ("../outside-1.0-py3-none-any.whl", "is outside the project directory"),
        ("-e ./nopkg", "./nopkg does not exist"),
        ("./empty", "is a directory without pyproject.toml or setup.py"),
        ("./notes.txt", "is not a supported wheel or source archive"),
        ("tiny @ ./dist/tiny.whl", "local direct reference requirements (`name @ path`) are not supported"),
        ("file:///tmp/x.whl", "local file URL requirements are not supported"),
        ("./dist/tiny-1.0-py3-none-any.whl --hash=sha256:00", "take no options, extras, markers or hashes"),
    ],
)
def test_bad_local_requirements_fail_before_any_step(tmp_path: Path, line: str, message: str) -> None:
    project = write(tmp_path / "p", CPU, line + "\n")
    (project / "dist").mkdir()
    (project / "dist" / "tiny-1.0-py3-none-any.whl").write_bytes(b"PK")
    (project / "empty").mkdir()
    (project / "notes.txt").write_text("x")
    with pytest.raises(ConfigError) as caught:
        load_config(project / "cog.yaml")
    assert message in caught.value.message and "\n" not in caught.value.message
    assert caught.value.hint


def test_remote_and_plain_requirements_pass_through(tmp_path: Path) -> None:
    lines = "six==1.16.0\ngit+https://github.com/x/y.git\nhttps://example.com/p-1.0-py3-none-any.whl\n-e git+https://github.com/x/z.git#egg=z\n"  # noqa: E501
    project = write(tmp_path, CPU, lines)
    config = load_config(project / "cog.yaml")
    assert config.requirements.local_paths == []
    assert "\n".join(config.requirements.requirements) + "\n" == lines


@pytest.mark.parametrize(
    ("weights_mib", "stack"),
    [
        (12, ["python 3.11", "cogkit runtime 0.1.0 + cog module"]),  # under torch's 700 MB: weights on top
        (800, ["python 3.11", "weights: 1 files, 839 MB", "cogkit runtime 0.1.0 + cog module"]),
    ],
)
def test_the_torch_layer_is_exported_early_as_the_final_images_prefix(
    tmp_path: Path, weights_mib: int, stack: list[str]
) -> None:
    """DiffOp (dockerd 28.5): the early export stacks what lies under torch as the image does (base, the
    weights when they outweigh torch, the runtime), so the containerd store's unpack of torch's layer (its
    chain ID) is the final image's own, not a second one."""
    project = write(tmp_path, CPU + "  run:\n    - echo hi\n", "torch==2.13.0\nsix==1.16.0\n")
    with (project / "model.bin").open("wb") as fh:
        fh.truncate(weights_mib << 20)  # sparse: the size is all the plan reads
    options = BuildOptions(separate_weights=True, base_image="python:3.11-slim")
    plan = plan_layers(load_config(project / "cog.yaml"), options)
    assert plan.weights_above_dependencies is (weights_mib == 12)
    compiled = compile_plan(plan, {}, frozenset({MERGE_CAP, DIFF_CAP}))
    used = {cap for meta in compiled.state.marshal().metadata.values() for cap in meta.caps}
    caps = frozenset(used | {MERGE_CAP, DIFF_CAP})  # every cap the graph uses: merge stays merge
    torch = "python packages (torch first): torch==2.13.0+cpu"
    *_, prefix = compiled.early  # after the weights' own early export when they are below torch
    assert [state.name for state in compiled.early[:-1]] == [n for n in stack if n.startswith("weights:")]
    early = {v.digest: v for v in prefix.marshal(caps=caps).walk()}
    head = early[prefix.marshal(caps=caps).head]
    assert head.name == torch  # the early export starts when the main build reports this name done
    assert head.op.WhichOneof("op") == "merge"
    inputs = [early[d].name for d, _ in head.inputs]
    assert inputs == [*stack, f"{torch} (restacked)"]
    image = {v.name: v for v in compiled.state.marshal(caps=caps).walk()}
    [final] = [v for name, v in image.items() if name.startswith("image = base + ")]
    # the same lower inputs as the image's merge: the very same base, weights and runtime vertices
    assert [d for d, _ in head.inputs][: len(stack)] == [d for d, _ in final.inputs][: len(stack)]
    assert image[torch].digest in {d for v in early.values() for d, _ in v.inputs}
    names = {v.digest: v.name for v in image.values()}
    weights = f"weights: 1 files, {(weights_mib << 20) / 1e6:.0f} MB"
    top = [weights] if plan.weights_above_dependencies else []
    upper = [names[d] for d, _ in final.inputs][len(stack) :]
    assert upper == ["dependencies (their layers, restacked)", *top, "code → /src"]
    rest = [torch, "python packages: torch==2.13.0+cpu six==1.16.0", "run: echo hi"]
    assert compiled.layers == [*stack, *rest, *top, "code → /src"]  # the history's order is the merge's


def test_only_a_framework_of_known_size_puts_the_weights_above_the_dependencies() -> None:
    from cogkit.config.requirements import PythonRequirements
    from cogkit.layers.plan import heavy_dependency_bytes

    def heavy(*lines: str, gpu: bool = False) -> int:
        return heavy_dependency_bytes(PythonRequirements([], list(lines), []), gpu)

    assert heavy("six==1.16.0", "numpy", "transformers>=4") == 0  # most packages: megabytes, not counted
    assert heavy("torch==2.13.0+cpu", "six") == 700_000_000
    assert heavy("Torch[opt] @ https://example.com/torch.whl", gpu=True) == 4_000_000_000  # with CUDA's libs
    assert heavy("tensorflow~=2.16", "jax[cpu]") == 850_000_000
