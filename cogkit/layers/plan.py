"""The layer plan: what each layer of the image contains, decided from the config alone.

This is cogkit's intermediate representation (envd's pkg/lang/ir plays the same role): pure data
made from a validated Config and the build options, with no LLB in it. compile.py turns it into
LLB states; `cogkit debug` and the tests can inspect it without a daemon.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cogkit
from cogkit.config import CONFIG_NAME, Config, RunStep
from cogkit.config.compat import cuda_base_image
from cogkit.config.requirements import PythonRequirements, requirement_name, rewrite_for_cuda
from cogkit.config.torch_index import PYTORCH, TorchIndex
from cogkit.context.ignore import read_dockerignore
from cogkit.context.weights import WeightFile, find_weights
from cogkit.errors import CogkitError

BASE_IMAGE_ENV = "COGKIT_BASE_IMAGE"
CA_CERT_ENV = "COGKIT_CA_CERT"
FIND_LINKS_ENV = "COGKIT_FIND_LINKS"
UV_VERSION = "0.13.9"
# The runtime's own dependencies, installed apart from the user's packages (see compile.py).
RUNTIME_REQUIREMENTS = ("aiohttp>=3.9", "msgspec>=0.18", "redis>=5.0", "tenacity>=8.2", "pyyaml>=6")
ALWAYS_EXCLUDED = (".git", ".cog")
MANAGED_PACKAGES = ("cog", "coglet", "cogkit")

# Local directory names the session serves.
CONTEXT = "context"
WEIGHTS = "weights"
RUNTIME_SRC = "cogkit-src"
RUNTIME_COMPAT = "cogkit-compat"
FIND_LINKS = "find-links"  # --find-links DIR, mounted into the install steps only
LOCAL_PACKAGES = "requirements-local"  # the project's wheels/package dirs named in requirements.txt


@dataclass(frozen=True)
class BuildOptions:
    separate_weights: bool = False
    base_image: str | None = None  # --base-image, else $COGKIT_BASE_IMAGE
    ca_cert: str | None = None  # --ca-cert, else $COGKIT_CA_CERT
    use_cuda_base_image: bool = True  # Cog's --use-cuda-base-image=false: GPU models on python:<ver>-slim
    torch_index: TorchIndex = PYTORCH  # resolved by the build (cogkit/config/torch_index.py)
    find_links: str | None = None  # --find-links DIR, else $COGKIT_FIND_LINKS
    index_env: Mapping[str, str] = field(default_factory=dict)  # the user's PyPI mirror for uv steps


@dataclass(frozen=True)
class BaseImage:
    ref: str
    kind: str  # "cuda" | "python" | "override"
    has_python: bool | None  # None: unknown until the build checks
    # BuildKit's image.resolvemode: "default", "local" (the engine's own copy first) or "pull".
    resolve_mode: str = "default"


@dataclass(frozen=True)
class LayerPlan:
    """What each layer holds. Frozen: what a build learns later (the Python probe) makes a new plan."""

    config: Config
    base: BaseImage
    system_packages: list[str]
    requirements: PythonRequirements
    pre_install: list[RunStep]
    run: list[RunStep]
    weights: list[WeightFile]
    code_excludes: list[str]
    local_dirs: dict[str, str]
    ca_cert: str | None
    config_copy: bytes | None = None  # cog.yaml content when -f named another file
    warnings: list[str] = field(default_factory=list)
    host_uv_version: str | None = None  # set when uv is shipped from this machine (local://cogkit-uv)
    torch_index: TorchIndex = PYTORCH
    find_links: str | None = None  # absolute directory, served as local://find-links
    index_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def python_version(self) -> str:
        return self.config.python_version

    @property
    def merged_weights_bytes(self) -> int:
        return sum(w.size for w in self.weights)

    @property
    def weights_above_dependencies(self) -> bool:
        """Where the weights go when the engine stacks independent layers (MergeOp + DiffOp).

        The containerd image store unpacks again every layer above a changed one, so the bigger of the
        two goes lower: below the dependencies a weights edit unpacks torch again (10 s for the CPU build
        on dockerd 28.5, against 1.8 s for Cog's layout); above them a dependency edit unpacks the weights
        again (4.6 s per GiB). Either way nothing is copied, exported or pushed again but what changed.
        Decided from cog.yaml alone, so the same project always gets the same image: the weights go on
        top only when a framework of known size is among the requirements and outweighs them."""
        return 0 < self.merged_weights_bytes < heavy_dependency_bytes(self.requirements, self.config.gpu)


# Installed sizes of the frameworks that dominate a model's dependencies, CPU and GPU builds (the CUDA
# wheels bring their nvidia-* libraries). Any other package counts for nothing: most are megabytes.
HEAVY_PACKAGES = {
    "torch": (700_000_000, 4_000_000_000),
    "tensorflow": (600_000_000, 2_500_000_000),
    "tensorflow-cpu": (600_000_000, 600_000_000),
    "jax": (250_000_000, 3_000_000_000),
}


def heavy_dependency_bytes(requirements: PythonRequirements, gpu: bool) -> int:
    """A floor on the installed size of the requirements: the sum over the heavy frameworks they name."""
    total = 0
    for line in requirements.requirements:
        name = requirement_name(line)
        if name in HEAVY_PACKAGES:
            total += HEAVY_PACKAGES[name][1 if gpu else 0]
    return total


def choose_base(config: Config, override: str | None, use_cuda: bool = True) -> BaseImage:
    """nvidia/cuda for GPU builds, python:<ver>-slim for CPU, unless the user overrides it."""
    override = override or os.environ.get(BASE_IMAGE_ENV) or None
    if override:
        return BaseImage(override, "override", None)
    if use_cuda and config.gpu and config.cuda.cuda and config.cuda.cudnn:
        # devel: torch extensions and many pip sdists need nvcc; this matches Cog.
        return BaseImage(cuda_base_image(config.cuda.cuda, config.cuda.cudnn, "devel"), "cuda", False)
    return BaseImage(f"python:{config.python_version}-slim", "python", True)


def runtime_sources() -> dict[str, str]:
    """The installed cogkit package and its cog compat tree: shipped from here, never from PyPI."""
    package = Path(cogkit.__file__).resolve().parent
    compat = (package / "_compat").resolve()
    return {RUNTIME_SRC: str(package), RUNTIME_COMPAT: str(compat)}


HOST_UV = "cogkit-uv"  # local:// name of the uv binary shipped from this machine


def host_uv() -> tuple[str, str] | None:
    """(directory, version) of the uv binary cogkit's own install carries, if an image can run it.

    Shipping it from here (a ~40 MB local transfer) instead of pip-installing it from PyPI in a
    side chain saves seconds and CPU on every cold build, and needs no index. Images run on this
    machine's platform (the graph targets the host platform), and uv's Linux binaries need only glibc.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        from importlib.metadata import version

        from uv import find_uv_bin
    except ImportError:
        return None
    try:
        binary = Path(find_uv_bin())
    except FileNotFoundError:
        return None
    return str(binary.parent), version("uv")


def plan_layers(config: Config, options: BuildOptions) -> LayerPlan:
    """Decide the layers; raises CogkitError for problems found before any build starts."""
    project = config.project_dir
    ignore = read_dockerignore(project)
    warnings = list(config.warnings)
    weights = find_weights(project, ignore) if options.separate_weights else []
    if options.separate_weights and not weights:
        warnings.append("--separate-weights: no files of 10 MiB or more found; weights stay with the code")
    requirements = rewrite_for_cuda(config.requirements, config.gpu, config.cuda, options.torch_index)
    requirements = _without_managed(requirements, warnings)
    excludes = [*ignore, *ALWAYS_EXCLUDED, *(w.path for w in weights)]
    local_dirs = {CONTEXT: str(project), **runtime_sources()}
    if weights:
        local_dirs[WEIGHTS] = str(project)
    uv = host_uv()
    if uv is not None:
        local_dirs[HOST_UV] = uv[0]
    find_links = find_links_dir(options.find_links)
    if find_links is not None:
        local_dirs[FIND_LINKS] = find_links
    if requirements.local_paths:
        local_dirs[LOCAL_PACKAGES] = str(project)
    ca_cert = options.ca_cert or os.environ.get(CA_CERT_ENV) or None
    return LayerPlan(
        config=config,
        base=choose_base(config, options.base_image, options.use_cuda_base_image),
        system_packages=config.system_packages,
        requirements=requirements,
        pre_install=config.pre_install,
        run=config.run,
        weights=weights,
        code_excludes=excludes,
        local_dirs=local_dirs,
        ca_cert=ca_cert,
        config_copy=config.path.read_bytes() if config.path.name != CONFIG_NAME else None,
        warnings=warnings,
        host_uv_version=uv[1] if uv is not None else None,
        torch_index=options.torch_index,
        find_links=find_links,
        index_env=dict(options.index_env),
    )


def find_links_dir(flag: str | None) -> str | None:
    """--find-links DIR (else $COGKIT_FIND_LINKS), checked to be a directory, as an absolute path."""
    value = flag or os.environ.get(FIND_LINKS_ENV) or None
    if value is None:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise CogkitError(
            f"--find-links {value} is not a directory",
            "pass a directory of wheels (--find-links DIR or COGKIT_FIND_LINKS)",
        )
    return str(path)


def find_links_summary(directory: str) -> str:
    """What a wheelhouse holds, for the build's first lines: 'N files (a.whl, b.whl, …)'."""
    names = sorted(p.name for p in Path(directory).iterdir() if p.is_file())
    shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
    return f"{len(names)} files ({shown})" if names else "no files"


def _without_managed(reqs: PythonRequirements, warnings: list[str]) -> PythonRequirements:
    """Drop cog/coglet from user requirements: cogkit provides `cog`, a second copy would shadow it."""
    kept = []
    for line in reqs.requirements:
        name = line.split(";")[0].split("[")[0]
        for sep in "=<>!~ @":
            name = name.split(sep)[0]
        if name.strip().lower() in MANAGED_PACKAGES:
            warnings.append(f"ignoring '{line}' in your Python requirements: cogkit provides the cog module")
            continue
        kept.append(line)
    return PythonRequirements(list(reqs.options), kept, list(reqs.local_paths), list(reqs.warnings))
