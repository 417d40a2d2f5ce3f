"""Compile a LayerPlan into named LLB states: one vertex per layer, each keyed on its own inputs.

Layer order (every layer only depends on what is below it, so put rarely-changing things low):

    no MergeOp:       base → python → [weights] → system packages → python packages → run steps
                      → runtime → code
    MergeOp + DiffOp: base → python → [weights] → runtime → (system packages … run steps, restacked)
                      → code

* Weights sit right above the base (and the Python install) when the daemon has no MergeOp
  (BuildKit v0.8 in dockerd 20.10): without MergeOp a layer is a diff against its parent, so
  anything placed above a dependency layer is re-created when dependencies change. Below them, a
  dependency edit never copies or exports the weights again, and a code edit touches neither.
  (Editing weights re-runs the dependency steps, from warm apt/uv caches.) The Python layer goes
  below the weights because it only needs the base, so it runs while the weights transfer.
* With MergeOp and DiffOp (BuildKit v0.10+), weights, runtime and code are independent scratch
  layers, and the dependency steps run on the bare base and are restacked with diff(): nothing
  re-creates a layer except its own inputs. The order then only decides what the containerd image
  store unpacks again, which is every layer above a changed one (its chain ID moves): so the layers
  that change least go lowest. The runtime changes only with a cogkit upgrade, so it sits below the
  dependencies; above them, every dependency edit unpacked its 18 MB again.
* The runtime (cogkit server + `cog` module) is built apart from the user's packages and run steps
  (runtime_stage), so a cogkit upgrade never reinstalls torch or re-runs a model download.
* Build tools (uv) live in a side chain and are only mounted, never part of the image.
"""

from __future__ import annotations

import datetime
import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cogkit import __version__, llb
from cogkit.config.compat import TORCH_PACKAGES
from cogkit.config.requirements import LOCAL_MOUNT, PythonRequirements, requirement_name
from cogkit.layers.plan import (
    CONTEXT,
    FIND_LINKS,
    HOST_UV,
    LOCAL_PACKAGES,
    RUNTIME_COMPAT,
    RUNTIME_REQUIREMENTS,
    RUNTIME_SRC,
    UV_VERSION,
    WEIGHTS,
    LayerPlan,
)
from cogkit.layers.steps import UNKNOWN_APT_PACKAGE, python_step

MERGE_CAP = "mergeop"
DIFF_CAP = "diffop"
CA_SECRET_ID = "cogkit-ca-cert"
CA_PATH = "/etc/cogkit/ca-certificates.crt"
UV_MOUNT = "/cogkit/uv"
UV = f"{UV_MOUNT}/bin/uv"
REQ_MOUNT = "/cogkit/req"
FIND_LINKS_MOUNT = "/cogkit/find-links"
RUNTIME_DIR = "/opt/cogkit"
# The image's init (cogkit/runtime/pid1.py, shipped with the runtime below): its path inside the image.
PID1 = f"{RUNTIME_DIR}/lib/cogkit/runtime/pid1.py"
INIT = ["python3", "-I", "-S", PID1, "--"]
CMD = ["python", "-m", "cog.server.http"]
COMPAT_DIR = f"{RUNTIME_DIR}/lib/cogkit/_compat"
# PYTHONPATH holds only the `cog` package, so `import cog` is always cogkit's (even if some dependency
# pulled in a real cog); everything else of the runtime is appended via a .pth, so user pins win.
DEFAULT_ENV = {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": COMPAT_DIR}
GPU_ENV = {"NVIDIA_DRIVER_CAPABILITIES": "all"}
# The runtime needs only these parts of the package (keeps the layer stable while the CLI changes).
# cogkit.config ships only its runtime reader (config/predictor.py), not the build's loader.
RUNTIME_INCLUDE = [
    "__init__.py",
    "errors.py",
    "runtime",
    "schema",
    "config/__init__.py",
    "config/predictor.py",
]
RUNTIME_EXCLUDE = ["**/__pycache__", "**/*.pyc"]


@dataclass
class Compiled:
    state: llb.State
    image_config: dict[str, Any]
    layers: list[str] = field(default_factory=list)  # vertex names of image layers, bottom to top
    uses_merge: bool = False
    # Lower parts worth exporting while the rest builds (dockerd: see cogkit/buildkit/early_export.py).
    early: list[llb.State] = field(default_factory=list)
    # The model's Python environment (user packages and build.run), below cogkit's runtime and the code.
    environment: llb.State | None = None
    # Side chains to solve beside the image, in no layer (the python packages' download).
    beside: list[llb.State] = field(default_factory=list)


FREEZE_FILE = "/cogkit-pip-freeze.txt"


def _pip_freeze_tool() -> llb.State:
    """pip_freeze.py as a file (its text is part of the label step's cache key)."""
    text = (Path(__file__).parent / "pip_freeze.py").read_bytes()
    return llb.scratch().file(llb.mkfile("/pip_freeze.py", 0o644, text), name="pip_freeze.py")


def pip_freeze_state(environment: llb.State) -> llb.State:
    """`pip freeze` of the model's environment (for the run.cog.pip_freeze label), in a side chain never
    part of the image; cached with the dependencies, so code edits do not re-run it. pip_freeze.py prints
    pip's output from the installed metadata where it can prove it is the same, else runs pip (whose own
    start-up took 1-2 s of a dependency edit)."""
    out = FREEZE_FILE
    script = f"python {TOOLS_MOUNT}/pip_freeze.py > {out} 2>/dev/null || : > {out}"
    return environment.run(
        _sh(script),
        mounts=[llb.bind(_pip_freeze_tool(), TOOLS_MOUNT, readonly=True)],
        network="none",  # no network sandbox to set up: ~0.1 s off every dependency edit on dockerd 28.5
        name="pip freeze (run.cog.pip_freeze label)",
    )


def _ca(plan: LayerPlan) -> tuple[list[Any], dict[str, str], str]:
    """Mounts, env and apt options that let a network step trust the user's CA bundle."""
    if not plan.ca_cert:
        return [], {}, ""
    env = {
        "SSL_CERT_FILE": CA_PATH,
        "PIP_CERT": CA_PATH,
        "REQUESTS_CA_BUNDLE": CA_PATH,
        "CURL_CA_BUNDLE": CA_PATH,
        "GIT_SSL_CAINFO": CA_PATH,
        "UV_SYSTEM_CERTS": "1",  # uv's native-TLS switch (was UV_NATIVE_TLS)
    }
    mount = llb.secret(CA_PATH, id=CA_SECRET_ID, mode=0o444)
    return [mount], env, f"-o Acquire::https::CAInfo={CA_PATH}"


def _sh(script: str) -> list[str]:
    return ["/bin/sh", "-c", script]


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def uv_tool(base: llb.State, plan: LayerPlan) -> llb.State:
    """A side chain holding the uv binary, mounted into install steps (never in the image).

    The binary cogkit's own install carries is shipped as a local source when there is one;
    otherwise uv is pip-installed from PyPI on top of the base.
    """
    if plan.host_uv_version is not None:
        source = llb.local(HOST_UV, include=["uv"], shared_key_hint=HOST_UV)
        return llb.scratch().file(
            llb.copy(source, "uv", "/cogkit-uv/bin/uv"),
            name=f"build tool: uv {plan.host_uv_version} from this machine (not in the image)",
        )
    ca_mounts, ca_env, apt_opts = _ca(plan)
    script = (
        "set -e\n"
        "if ! python3 -m pip --version >/dev/null 2>&1; then\n"
        f"  apt-get update -qq {apt_opts} && apt-get install -qqy --no-install-recommends {apt_opts} "
        "python3-pip >/dev/null\n"
        "fi\n"
        f"python3 -m pip install --quiet --no-cache-dir --target /cogkit-uv uv=={UV_VERSION}\n"
    )
    env = {**ca_env, "PIP_BREAK_SYSTEM_PACKAGES": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "DEBIAN_FRONTEND": "noninteractive"}  # fmt: skip
    return base.run(
        _sh(script), env=env, mounts=ca_mounts, name=f"build tool: uv {UV_VERSION} (not in the image)"
    )


def _uv_mount(tool: llb.State) -> Any:
    return llb.bind(tool, UV_MOUNT, readonly=True, selector="/cogkit-uv")


def _uv_env(plan: LayerPlan) -> dict[str, str]:
    return {"UV_CACHE_DIR": "/root/.cache/uv", "UV_LINK_MODE": "copy", "UV_NO_PROGRESS": "1",
            "UV_PYTHON_DOWNLOADS": "automatic", "UV_BREAK_SYSTEM_PACKAGES": "1",
            **plan.index_env}  # fmt: skip


LOCAL_SOURCE_MOUNT = "/cogkit/local-src"


def _local_sources(plan: LayerPlan) -> tuple[list[Any], dict[str, str], str]:
    """Mounts, env and a script prefix for --find-links and the project's own packages.

    Both are local sources mounted read-only into the user's install steps (read-only: BuildKit keys
    the step on their content; a writable mount of a local source would be a new key every build),
    never copied into a layer. Building a package directory writes build/ and *.egg-info next to its
    sources, so the project's packages are copied into a tmpfs at LOCAL_MOUNT first."""
    mounts: list[Any] = []
    env: dict[str, str] = {}
    prefix = ""
    if plan.find_links is not None:
        wheels = llb.local(FIND_LINKS, shared_key_hint=f"{FIND_LINKS}:{plan.find_links}")
        mounts.append(llb.bind(wheels, FIND_LINKS_MOUNT, readonly=True))
        env["UV_FIND_LINKS"] = FIND_LINKS_MOUNT
    paths = plan.requirements.local_paths
    if paths:
        include = None if "." in paths else list(paths)
        source = llb.local(
            LOCAL_PACKAGES,
            include=include,
            exclude=list(plan.code_excludes) if include is None else None,
            shared_key_hint=f"{LOCAL_PACKAGES}:{plan.config.project_dir}",
        )
        mounts += [llb.bind(source, LOCAL_SOURCE_MOUNT, readonly=True), llb.tmpfs(LOCAL_MOUNT)]
        prefix = f"cp -a {LOCAL_SOURCE_MOUNT}/. {LOCAL_MOUNT}/\n"
    return mounts, env, prefix


def _uv_cache() -> Any:
    return llb.cache("/root/.cache/uv", id="cogkit-uv-cache", sharing="shared")


def python_layer(state: llb.State, tool: llb.State, plan: LayerPlan) -> llb.State:
    """Use the base's Python when it is the requested version, else install it with uv."""
    version = plan.python_version
    major, minor = version.split(".")
    ca_mounts, ca_env, _ = _ca(plan)
    script = (
        "set -e\n"
        f"if command -v python3 >/dev/null 2>&1 && python3 -c 'import sys; "
        f"raise SystemExit(sys.version_info[:2] != ({major}, {minor}))'; then\n"
        f"  echo 'base image has Python {version}'\n"
        "else\n"
        f"  UV_PYTHON_INSTALL_DIR=/opt/python {UV} python install {version}\n"
        f'  ln -sf "$(UV_PYTHON_INSTALL_DIR=/opt/python {UV} python find {version})" /usr/local/bin/python3\n'
        "fi\n"
        'command -v python >/dev/null 2>&1 || ln -sf "$(command -v python3)" /usr/local/bin/python\n'
    )
    return state.run(
        _sh(script),
        env={**_uv_env(plan), **ca_env},
        mounts=[_uv_mount(tool), *ca_mounts],
        name=python_step(version),
    )


def _apt_run(
    state: llb.State,
    plan: LayerPlan,
    commands: Callable[[str, str], str],
    mount: llb.BindMount,
    *,
    name: str,
) -> llb.ExecState:
    """An apt step with what both apt steps need: the locked cache mounts, the CA, no prompts.

    `commands(names, apt_opts)` gets the quoted package names and the CA options for apt-get;
    `name` has a `{}` for the (shortened) package list.
    """
    ca_mounts, ca_env, apt_opts = _ca(plan)
    names = " ".join(shlex.quote(p) for p in plan.system_packages)
    script = "set -e\nrm -f /etc/apt/apt.conf.d/docker-clean\n" + commands(names, apt_opts)
    return state.run(
        _sh(script),
        env={"DEBIAN_FRONTEND": "noninteractive", **ca_env},
        mounts=[
            llb.cache("/var/cache/apt", id="cogkit-apt-cache", sharing="locked"),
            llb.cache("/var/lib/apt", id="cogkit-apt-lib", sharing="locked"),
            mount,
            *ca_mounts,
        ],
        name=name.format(_short(" ".join(plan.system_packages))),
    )


def apt_prefetch(base: llb.State, plan: LayerPlan) -> llb.State:
    """apt-get update + download into the cache mounts, in a side chain off the bare base.

    It depends only on the base, so BuildKit runs it while the weights are still being transferred
    and copied; the install layer then finds lists and .debs in the cache. Its output is a marker
    file, mounted into the install step only to order the two.
    """
    step = _apt_run(
        base,
        plan,
        lambda names, apt_opts: (
            f"apt-get update -qq {apt_opts}\n"
            f"if ! apt-get install -qqy --download-only --no-install-recommends "
            f"-o APT::Keep-Downloaded-Packages=true {apt_opts} {names} >/dev/null; then\n"
            f'  for p in {names}; do apt-cache show "$p" >/dev/null 2>&1 || '
            f'echo "{UNKNOWN_APT_PACKAGE}$p" >&2; done\n'
            "  exit 100\n"
            "fi\n"
            "date -u > /cogkit-out/prefetched\n"
        ),
        llb.bind(llb.scratch(), "/cogkit-out"),
        name="download system packages: {} (not in the image)",
    )
    return step.get_mount("/cogkit-out")


def system_packages_layer(state: llb.State, prefetched: llb.State, plan: LayerPlan) -> llb.State:
    """apt-get install from the warm cache (see apt_prefetch), --no-install-recommends."""
    return _apt_run(
        state,
        plan,
        lambda names, apt_opts: (
            f"ls /var/lib/apt/lists/*Packages* >/dev/null 2>&1 || apt-get update -qq {apt_opts}\n"
            "apt-get install -qqy --no-install-recommends -o APT::Keep-Downloaded-Packages=true "
            f"{apt_opts} {names}\n"
        ),
        llb.bind(prefetched, "/cogkit/apt-prefetched", readonly=True),
        name="system packages: {}",
    )


def _requirements_file(plan: LayerPlan, reqs: PythonRequirements | None = None) -> llb.State:
    reqs = plan.requirements if reqs is None else reqs
    name = "requirements.txt" if reqs is plan.requirements else "requirements.txt (torch first)"
    return llb.scratch().file(llb.mkfile("/requirements.txt", 0o644, reqs.render()), name=name)


def torch_first(reqs: PythonRequirements) -> PythonRequirements | None:
    """The torch pins alone (with the file's options), when there are other requirements besides.

    They get a layer of their own below the rest: torch is most of a model's dependencies (~700 MB
    unpacked for the CPU build, GBs for CUDA), so adding or bumping any other package re-creates,
    re-exports and re-pushes only the smaller layer above, and at a cold build dockerd turns the
    torch layer into a Docker layer while the rest still installs."""
    pinned = [line for line in reqs.requirements if _torch_line(line)]
    if not pinned or len(pinned) == len(reqs.requirements):
        return None
    return PythonRequirements(list(reqs.options), pinned, list(reqs.local_paths))


def _torch_line(line: str) -> bool:
    return requirement_name(line) in TORCH_PACKAGES


PREFETCH_DIR = "/root/.cache/uv/.cogkit-prefetch"


def python_prefetch(pybase: llb.State, tool: llb.State, plan: LayerPlan) -> llb.State:
    """Resolve and download the user's packages into the uv cache, in a side chain off the Python base.

    Solved beside the image (Compiled.beside), never waited for by the install layer: it starts with
    the build and fills the cache while the weights and the system packages are still on their way,
    and the install finds there what it has fetched by then. On a dependency edit the install no longer
    waits for a second resolve and container start. The throwaway --target install (hardlinked, so nearly
    free) goes to one directory per interpreter in the cache mount, kept between builds under a lock, so
    an edit installs only what changed there too (torch's thousands of files are not linked and deleted
    again)."""
    ca_mounts, ca_env, _ = _ca(plan)
    local_mounts, local_env, local_prefix = _local_sources(plan)
    script = (
        "set -e\n" + local_prefix + "key=$(python3 -c 'import sys; print(sys.version, sys.executable, "
        "sys.platform)' | cksum | cut -d' ' -f1)\n"
        f'mkdir -p {PREFETCH_DIR}\ndir="{PREFETCH_DIR}/$key"\n'
        # flock (util-linux) where the base has it; else a directory of this build's own, as before
        "throwaway=\n"
        'if command -v flock >/dev/null 2>&1; then exec 9>"$dir.lock"; flock 9\n'
        'else throwaway="$dir-$$-$(date +%s%N)"; dir=$throwaway; fi\n'
        f'{UV} pip install --python python3 --target "$dir" -r {REQ_MOUNT}/requirements.txt >/dev/null\n'
        '[ -z "$throwaway" ] || rm -rf "$throwaway"\n'
    )
    return pybase.run(
        _sh(script),
        env={**plan.config.environment, **_uv_env(plan), "UV_LINK_MODE": "hardlink", **local_env, **ca_env},
        mounts=[
            _uv_mount(tool),
            llb.bind(_requirements_file(plan), REQ_MOUNT, readonly=True),
            _uv_cache(),
            *local_mounts,
            *ca_mounts,
        ],
        name="download python packages (not in the image)",
    )


def python_packages_layer(
    state: llb.State,
    tool: llb.State,
    plan: LayerPlan,
    reqs: PythonRequirements | None = None,
) -> llb.State:
    """uv pip install from the user's requirements, mounted as a file (the key is its content);
    `reqs`: a part of them (torch_first)."""
    part = reqs is not None
    reqs = plan.requirements if reqs is None else reqs
    ca_mounts, ca_env, _ = _ca(plan)
    local_mounts, local_env, local_prefix = _local_sources(plan)
    script = local_prefix + (
        f"{UV} pip install --system --break-system-packages --python python3 -r {REQ_MOUNT}/requirements.txt"
    )
    count = len(reqs.requirements)
    # Bytecode at install, as pip does: the image runs with PYTHONDONTWRITEBYTECODE, so without it every
    # start would compile torch's and transformers' modules again (seconds before READY).
    compile_env = {"UV_COMPILE_BYTECODE": "1"}
    return state.run(
        _sh(script),
        env={**plan.config.environment, **_uv_env(plan), **compile_env, **local_env, **ca_env},
        mounts=[
            _uv_mount(tool),
            llb.bind(_requirements_file(plan, reqs), REQ_MOUNT, readonly=True),
            _uv_cache(),
            *local_mounts,
            *ca_mounts,
        ],
        name=("python packages (torch first): " if part else "python packages: ")
        + _short(" ".join(reqs.requirements))
        + (f" ({count})" if count > 3 else ""),
    )


def run_layer(state: llb.State, step: Any, index: int, plan: LayerPlan, kind: str = "run") -> llb.State:
    """One build.run command: its own layer, with the secrets it declares mounted (not stored)."""
    ca_mounts, ca_env, _ = _ca(plan)
    secrets = [llb.secret(m.target, id=m.id, mode=0o400) for m in step.mounts]
    env = {**plan.config.environment, "PIP_BREAK_SYSTEM_PACKAGES": "1", **ca_env}
    return state.run(
        _sh(step.command), env=env, mounts=[*secrets, *ca_mounts], name=f"{kind}: {_short(step.command)}"
    )


def runtime_deps(pybase: llb.State, tool: llb.State, plan: LayerPlan) -> llb.State:
    """The runtime's own packages, installed into a separate directory in a side chain."""
    ca_mounts, ca_env, _ = _ca(plan)
    packages = " ".join(shlex.quote(r) for r in RUNTIME_REQUIREMENTS)
    script = f"{UV} pip install --python python3 --target /cogkit-runtime-deps {packages}"
    return pybase.run(
        _sh(script),
        env={**_uv_env(plan), **ca_env},
        mounts=[_uv_mount(tool), _uv_cache(), *ca_mounts],
        name="cogkit runtime dependencies (aiohttp, msgspec, …)",
    )


STAGE = "/cogkit-rt"  # the runtime's files, laid out under this root in the side chain
TOOLS_MOUNT = "/cogkit/tools"


def _elfstrip_tool() -> llb.State:
    """elfstrip.py as a file (its text is part of the staging step's cache key)."""
    text = (Path(__file__).parent / "elfstrip.py").read_bytes()
    return llb.scratch().file(llb.mkfile("/elfstrip.py", 0o644, text), name="elfstrip.py")


def runtime_stage(pybase: llb.State, deps: llb.State) -> llb.State:
    """Assemble /opt/cogkit and the .pth in a side chain (no weights, no user packages underneath).

    It runs in parallel with the weights transfer and the dependency steps; the image layer is then
    a plain file copy, with no container to start on the critical path.
    """
    src = llb.local(
        RUNTIME_SRC, include=RUNTIME_INCLUDE, exclude=RUNTIME_EXCLUDE, shared_key_hint=RUNTIME_SRC
    )
    compat = llb.local(RUNTIME_COMPAT, exclude=RUNTIME_EXCLUDE, shared_key_hint=RUNTIME_COMPAT)
    root = f"{STAGE}{RUNTIME_DIR}"
    script = (
        "set -e\n"
        f"mkdir -p {root}/lib\n"
        f"cp -a /cogkit/deps {root}/deps\n"
        f"python3 {TOOLS_MOUNT}/elfstrip.py {root}/deps\n"
        f"cp -a /cogkit/src {root}/lib/cogkit\n"
        f"cp -a /cogkit/compat {root}/lib/cogkit/_compat\n"
        "site=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')\n"
        f'mkdir -p "{STAGE}$site"\n'
        f"printf '%s\\n' {RUNTIME_DIR}/lib {COMPAT_DIR} {RUNTIME_DIR}/deps "
        f'> "{STAGE}$site/cogkit-runtime.pth"\n'
        # .pyc files name their sources as they will be in the image, not under the staging root
        f"python3 -m compileall -q -s {STAGE} -p / {root} >/dev/null 2>&1 || true\n"
    )
    return pybase.run(
        _sh(script),
        mounts=[
            llb.bind(deps, "/cogkit/deps", readonly=True, selector="/cogkit-runtime-deps"),
            llb.bind(src, "/cogkit/src", readonly=True),
            llb.bind(compat, "/cogkit/compat", readonly=True),
            llb.bind(_elfstrip_tool(), TOOLS_MOUNT, readonly=True),
        ],
        network="none",  # only copies and compiles
        name="stage cogkit runtime (not in the image)",
    )


def runtime_layer(state: llb.State, staged: llb.State) -> llb.State:
    """cogkit's runtime and `cog` module at /opt/cogkit, appended to sys.path via a .pth.

    Appended, not prepended: the user's packages (say pydantic<2, or an older aiohttp) always win.
    """
    return state.file(llb.copy(staged, f"{STAGE}/", "/"), name=f"cogkit runtime {__version__} + cog module")


def weights_copy(target: llb.State, plan: LayerPlan) -> llb.State:
    source = llb.local(
        WEIGHTS,
        include=[w.path for w in plan.weights],
        shared_key_hint=f"{WEIGHTS}:{plan.config.project_dir}",
    )
    size = plan.merged_weights_bytes / 1e6
    return target.file(
        llb.copy(source, "/", "/src/"), name=f"weights: {len(plan.weights)} files, {size:.0f} MB"
    )


def code_copy(target: llb.State, plan: LayerPlan) -> llb.State:
    context = llb.local(
        CONTEXT, exclude=plan.code_excludes, shared_key_hint=f"{CONTEXT}:{plan.config.project_dir}"
    )
    action = llb.copy(context, "/", "/src/")
    if plan.config_copy is not None:
        action = action.mkfile("/src/cog.yaml", 0o644, plan.config_copy)
    return target.file(action, name="code → /src")


def _image_prefix(pybase: llb.State, lower: list[llb.State], chain: llb.State) -> llb.State:
    """The final image's layers up to `chain`'s head (merge(base, *lower, diff(base, chain)), as the
    image stacks them), to export early: the containerd image store unpacks a layer again when the
    layers below it differ, so an early export of the bare chain (no weights or runtime under it)
    would leave the final export to unpack torch's layer a second time. Named as the chain's head,
    whose completion in the main build starts the early export (cogkit/buildkit/early_export.py
    matches names)."""
    dependencies = llb.diff(pybase, chain, name=f"{chain.name} (restacked)")
    return llb.merge([pybase, *lower, dependencies], name=chain.name)


def compile_plan(
    plan: LayerPlan,
    base_config: Mapping[str, Any] | None = None,
    caps: frozenset[str] | set[str] | None = None,
    openapi_schema: dict[str, Any] | None = None,
    source_date_epoch: int | None = None,
) -> Compiled:
    """The image as LLB plus its OCI config; `caps` (from Ping) decide whether MergeOp is used.

    With `source_date_epoch` every step sees SOURCE_DATE_EPOCH, so the bytecode it compiles is keyed
    on hashes, not on the install time (the exporter clamps file times; .pyc headers it cannot)."""
    use_merge = bool(caps and MERGE_CAP in caps)
    base = llb.image(plan.base.ref, resolve_mode=plan.base.resolve_mode, name=f"base: {plan.base.ref}")
    if base_config:
        base = base.with_image_config(base_config)
    if source_date_epoch is not None:
        base = base.with_env("SOURCE_DATE_EPOCH", str(source_date_epoch))
    tool = uv_tool(base, plan)
    layers: list[str] = []

    def add(state: llb.State) -> llb.State:
        layers.append(state.name)
        return state

    chain = base
    if plan.base.has_python is not True:
        # Below the weights: it only depends on the base, so it runs while the weights still transfer.
        chain = add(python_layer(chain, tool, plan))
    pybase = chain
    early: list[llb.State] = []
    # With DiffOp too, the weights and the runtime go right above the base, below the dependencies:
    # the containerd image store unpacks a layer again whenever any layer below it changes (its chain
    # ID moves), and above the dependencies a pip edit cost a re-unpack of every weights byte (4.6 s
    # per GiB on dockerd 28.5) and of the runtime's 18 MB. The dependencies are restacked on top with
    # diff(), layers unchanged. Weights smaller than a framework among the dependencies (torch) go
    # above them instead: see LayerPlan.weights_above_dependencies.
    stacked = use_merge and bool(caps and DIFF_CAP in caps)
    weights_on_top = stacked and plan.weights_above_dependencies
    lower: list[llb.State] = []  # scratch layers between the base and the restacked dependencies
    if plan.weights and not use_merge:
        chain = add(weights_copy(chain, plan))
        early.append(chain)  # gigabytes: let dockerd checksum them while the dependencies install
    elif plan.weights and stacked and not weights_on_top:
        lower.append(add(weights_copy(llb.scratch(), plan)))
        # Exported early as the final image's own prefix (base + weights), so the containerd store
        # compresses and unpacks the weights while apt and uv work, not after the last step.
        early.append(llb.merge([pybase, lower[-1]], name=lower[-1].name))
    staged = runtime_stage(pybase, runtime_deps(pybase, tool, plan))
    if stacked:
        lower.append(add(runtime_layer(llb.scratch(), staged)))
    if plan.system_packages:
        chain = add(system_packages_layer(chain, apt_prefetch(base, plan), plan))
    for index, step in enumerate(plan.pre_install):
        chain = add(run_layer(chain, step, index, plan, kind="pre_install"))
    beside: list[llb.State] = []
    if plan.requirements:
        beside.append(python_prefetch(pybase, tool, plan))
        heavy = torch_first(plan.requirements)
        if heavy is not None:
            # torch installs while the rest is still downloading
            chain = add(python_packages_layer(chain, tool, plan, heavy))
            early.append(_image_prefix(pybase, lower, chain) if stacked else chain)
        chain = add(python_packages_layer(chain, tool, plan))
    for index, step in enumerate(plan.run):
        chain = add(run_layer(chain, step, index, plan))
    environment = chain
    if stacked:
        # The runtime is a layer of its own on scratch here: in the chain above the dependencies it was a
        # new snapshot on every dependency edit, diffed, compressed (and pushed) again with the same files.
        parts = [pybase, *lower]
        if chain is not pybase:
            parts.append(llb.diff(pybase, chain, name="dependencies (their layers, restacked)"))
        if weights_on_top:
            parts.append(add(weights_copy(llb.scratch(), plan)))
        parts.append(add(code_copy(llb.scratch(), plan)))
        if weights_on_top:
            stack = "runtime + dependencies + weights"
        else:
            stack = ("weights + " if plan.weights else "") + "runtime + dependencies"
        merged = llb.merge(parts, name=f"image = base + {stack} + code")
        final = chain.with_output(merged.output)  # the dependency chain's env, cwd and user
    elif use_merge:
        chain = add(runtime_layer(chain, staged))
        parts = [chain]
        if plan.weights:
            parts.append(add(weights_copy(llb.scratch(), plan)))
        parts.append(add(code_copy(llb.scratch(), plan)))
        final = llb.merge(parts, name="image = dependencies + weights + code")
    else:
        final = add(code_copy(add(runtime_layer(chain, staged)), plan))
    final = final.with_cwd("/src")
    config = image_config(plan, base_config or {}, openapi_schema)
    if source_date_epoch is not None:
        config["history"] = image_history(base_config or {}, layers, source_date_epoch)
    return Compiled(final, config, layers, use_merge, early, environment, beside)


def image_history(base_config: Mapping[str, Any], layers: list[str], epoch: int) -> list[dict[str, Any]]:
    """The image's history, the base's own entries then one per cogkit layer, for a reproducible export.

    Without it the exporter names each layer after its build-cache record, and that record's description
    depends on how the snapshot first entered the cache (an earlier pull or cache import of the same base
    says "imported sha256:…", a fresh one "created by buildkit"): two builds of one context on different
    cache states then gave two config digests."""
    created = datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    history = [dict(entry) for entry in base_config.get("history") or []]
    base_layers = len((base_config.get("rootfs") or {}).get("diff_ids") or [])
    if sum(not entry.get("empty_layer") for entry in history) != base_layers:
        history = [{"created": created, "created_by": "base image layer"} for _ in range(base_layers)]
    history += [{"created": created, "created_by": name, "comment": "cogkit"} for name in layers]
    return history


def image_config(
    plan: LayerPlan, base_config: Mapping[str, Any], openapi_schema: dict[str, Any] | None
) -> dict[str, Any]:
    """The OCI image config: base Env inherited, then cogkit defaults, then cog.yaml's environment."""
    inner = base_config.get("config") or {}
    env: dict[str, str] = {}
    for item in inner.get("Env") or []:
        key, _, value = str(item).partition("=")
        env[key] = value
    env.update(DEFAULT_ENV)
    if plan.config.gpu:
        env.update(GPU_ENV)
    model = plan.config.model
    if model.predict:
        env["COG_PREDICT_TYPE_STUB"] = model.predict
    if model.train:
        env["COG_TRAIN_TYPE_STUB"] = model.train
    if model.concurrency:
        env["COG_MAX_CONCURRENCY"] = str(model.concurrency.max)
    env.update(plan.config.environment)
    labels = {
        "run.cog.version": __version__,
        "run.cog.config": json.dumps(plan.config.raw, sort_keys=True, separators=(",", ":")),
        "run.cog.has_init": "true",
        "org.cogkit.version": __version__,
    }
    if openapi_schema is not None:
        labels["run.cog.openapi_schema"] = json.dumps(openapi_schema, sort_keys=True, separators=(",", ":"))
    return {
        "architecture": base_config.get("architecture", "amd64"),
        "os": base_config.get("os", "linux"),
        "config": {
            "Env": [f"{k}={v}" for k, v in env.items()],
            "WorkingDir": "/src",
            "ExposedPorts": {"5000/tcp": {}},
            "Entrypoint": INIT,
            "Cmd": CMD,
            "Labels": labels,
        },
    }
