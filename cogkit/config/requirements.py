"""The user's Python requirements: read them, find torch/tensorflow pins, point torch at its wheel index.

Requirement lines are passed to uv verbatim (uv understands pip's requirements format, including
--index-url/--extra-index-url/--find-links inside the file); cogkit only adds an index line and
the +cpu local version for torch on CPU builds, as Cog does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from cogkit.config.compat import TORCH_PACKAGES, CudaChoice
from cogkit.config.torch_index import PYTORCH, TorchIndex
from cogkit.errors import ConfigError

if TYPE_CHECKING:
    from packaging.requirements import Requirement

_INCLUDE = re.compile(r"^(-r|--requirement)[\s=]+(?P<path>\S+)$")
_EDITABLE = re.compile(r"^(-e|--editable)[\s=]+(?P<target>\S.*)$")
_FIND_LINKS = re.compile(r"^(-f|--find-links)[\s=]+(?P<target>\S+)$")
# Where the project's own wheels, archives and package directories named in the requirements are
# mounted in the install steps (read from the project, never copied into a layer of their own).
LOCAL_MOUNT = "/cogkit/local"
ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


@dataclass
class PythonRequirements:
    options: list[str] = field(default_factory=list)  # lines such as --extra-index-url URL
    requirements: list[str] = field(default_factory=list)
    local_paths: list[str] = field(default_factory=list)  # project-relative paths the lines name
    warnings: list[str] = field(default_factory=list)

    def render(self) -> str:
        """requirements.txt text, options first (uv reads them anywhere; people look for them on top)."""
        lines = self.options + self.requirements
        return "".join(line + "\n" for line in lines)

    def __bool__(self) -> bool:
        return bool(self.requirements)

    def pinned(self, name: str) -> str | None:
        """The exact version of `name` pinned with == (no wildcard), else None."""
        if not any(name in line.lower() for line in self.requirements):
            return None  # the common case, without importing packaging (~50 ms of every CLI run)
        wanted = canonicalize_name(name)
        for line in self.requirements:
            req = _parse(line)
            if req is None or canonicalize_name(req.name) != wanted:
                continue
            specs = list(req.specifier)
            if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
                return specs[0].version.split("+")[0]
        return None


def canonicalize_name(name: str) -> str:
    """PEP 503 normalisation (as packaging.utils.canonicalize_name)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str:
    """The canonical project name a requirement line starts with (`Torch[x]>=2 ; …` -> `torch`)."""
    return canonicalize_name(re.split(r"[\s\[;=<>!~@]", line.strip(), maxsplit=1)[0])


def _parse(line: str) -> Requirement | None:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return Requirement(line.split(" #")[0].strip())
    except InvalidRequirement:
        return None  # URLs, paths, editable installs: passed through untouched


def _logical_lines(text: str) -> list[str]:
    joined = re.sub(r"\\\n", " ", text)
    lines = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if " #" in line:
            line = line.split(" #", 1)[0].rstrip()
        lines.append(line)
    return lines


def read_requirements_file(
    path: Path, project_dir: Path, _seen: frozenset[Path] = frozenset()
) -> PythonRequirements:
    """Parse a requirements file, inlining `-r other.txt` so the build needs only one file."""
    try:
        text = path.read_text()
    except OSError as exc:
        shown = path.relative_to(project_dir) if path.is_relative_to(project_dir) else path
        raise ConfigError(
            f"failed to open python_requirements file {shown}: {exc.strerror or exc}",
            "build.python_requirements is a path relative to the directory holding cog.yaml",
        ) from None
    out = PythonRequirements()
    shown = path.relative_to(project_dir) if path.is_relative_to(project_dir) else path
    for line in _logical_lines(text):
        include = _INCLUDE.match(line)
        if include:
            target = (path.parent / include.group("path")).resolve()
            if target in _seen:
                continue
            nested = read_requirements_file(target, project_dir, _seen | {path.resolve()})
            out.options += [o for o in nested.options if o not in out.options]
            out.requirements += nested.requirements
            out.local_paths += [p for p in nested.local_paths if p not in out.local_paths]
            out.warnings += nested.warnings
            continue
        line, local = _localize(line, str(shown), project_dir, out.warnings)
        if local is not None and local not in out.local_paths:
            out.local_paths.append(local)
        if line.startswith("-") and not line.startswith(("-e", "--editable")):
            if line not in out.options:
                out.options.append(line)
        else:
            out.requirements.append(line)
    return out


def _is_remote(text: str) -> bool:
    return "://" in text or text.startswith("git+")


def _is_local_path(text: str) -> bool:
    return text.startswith(("./", "../", "/")) or text in (".", "..")


def _is_archive(text: str) -> bool:
    return text.lower().endswith(ARCHIVE_SUFFIXES)


def _localize(line: str, shown: str, project_dir: Path, warnings: list[str]) -> tuple[str, str | None]:
    """A requirement line naming a wheel, source archive or package directory of the project, as
    the install step sees it (under LOCAL_MOUNT), and that path relative to the project.

    Cog 0.2x accepts a bare wheel or source archive (`./dist/pkg.whl`) and refuses file: URLs,
    `name @ ./path` and options or markers on such lines; cogkit does the same, and also installs
    package directories (`./pkg`, and `-e ./pkg` as a regular install, with a warning)."""

    def fail(message: str, hint: str) -> NoReturn:
        raise ConfigError(f"{shown}: {message}", hint)

    if line.startswith("file:") or re.search(r"@\s*file:", line):
        fail(
            f"local file URL requirements are not supported: {line}",
            "list the path itself, e.g. ./dist/pkg.whl",
        )
    links = _FIND_LINKS.match(line)
    if links:
        target = links.group("target")
        if _is_remote(target):
            return line, None
        rel = _project_path(target, shown, project_dir, kind="find-links")
        return f"--find-links {LOCAL_MOUNT}/{rel}", rel
    editable = _EDITABLE.match(line)
    if editable:
        target = editable.group("target").strip()
        if _is_remote(target):
            return line, None
        rel = _project_path(target, shown, project_dir, kind="package")
        warnings.append(
            f"{shown}: {line} is installed as a regular package (an image's packages are not edited in place)"
        )
        return f"{LOCAL_MOUNT}/{rel}", rel
    if line.startswith("-") or _is_remote(line):
        return line, None
    name, at, target = line.partition("@")
    if at and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?", name.strip()):
        if _is_local_path(target.strip()):
            fail(
                f"local direct reference requirements (`name @ path`) are not supported: {line}",
                f"list the path directly instead: {target.strip()}",
            )
        return line, None
    first = line.split()[0]
    base = re.split(r"[;\[]", first, maxsplit=1)[0]
    if not (_is_local_path(base) or _is_archive(base)):
        return line, None
    if first != line or base != first or ";" in line:
        fail(
            f"local package artifact requirements take no options, extras, markers or hashes: {line}",
            "put the path alone on its line, e.g. ./dist/pkg.whl",
        )
    rel = _project_path(base, shown, project_dir, kind="package")
    return f"{LOCAL_MOUNT}/{rel}", rel


def _project_path(target: str, shown: str, project_dir: Path, kind: str) -> str:
    """`target` (relative to the project, as Cog reads it) checked to exist inside the project."""
    hint = "paths in a requirements file are relative to the directory holding cog.yaml"
    root = project_dir.resolve()
    resolved = (root / target).resolve()
    if not resolved.is_relative_to(root):
        raise ConfigError(
            f"{shown}: {target} is outside the project directory",
            "move it into the project (it is sent to the builder with the code); " + hint,
        )
    if not resolved.exists():
        raise ConfigError(f"{shown}: {target} does not exist", hint)
    rel = resolved.relative_to(root).as_posix()
    if kind == "find-links":
        if not resolved.is_dir():
            raise ConfigError(f"{shown}: --find-links {target} is not a directory", hint)
        return rel
    if resolved.is_dir():
        if not ((resolved / "pyproject.toml").is_file() or (resolved / "setup.py").is_file()):
            raise ConfigError(
                f"{shown}: {target} is a directory without pyproject.toml or setup.py",
                "name a Python package directory, or a wheel or source archive built from it",
            )
        return rel
    if not _is_archive(resolved.name):
        raise ConfigError(
            f"{shown}: local package requirement {target} is not a supported wheel or source archive",
            f"name a file ending in {', '.join(ARCHIVE_SUFFIXES)}, or a package directory",
        )
    return rel


def from_packages(packages: list[str]) -> PythonRequirements:
    """build.python_packages as a requirements list (Cog's deprecated inline form)."""
    return PythonRequirements([], [p.strip() for p in packages if p.strip()])


def pins_torch(reqs: PythonRequirements) -> bool:
    return any(reqs.pinned(name) for name in TORCH_PACKAGES)


def rewrite_for_cuda(
    reqs: PythonRequirements, gpu: bool, choice: CudaChoice, torch_index: TorchIndex = PYTORCH
) -> PythonRequirements:
    """Point pinned torch/torchvision/torchaudio at the wheel index matching the build.

    GPU: --extra-index-url …/whl/cuXYZ for the chosen torch CUDA variant. CPU: the +cpu local
    version for torch and torchvision, from …/whl/cpu (Cog's behaviour; the CPU wheels are ~5x smaller).
    With the "pypi" choice (see torch_index.py) the requirements stay as written.
    """
    if not pins_torch(reqs) or torch_index.mode == "pypi":
        return reqs
    if gpu and choice.torch_cuda is None:
        return reqs
    index = torch_index.url(choice.torch_cuda if gpu else None)
    rewritten: list[str] = []
    for line in reqs.requirements:
        req = _parse(line)
        name = canonicalize_name(req.name) if req else None
        version = reqs.pinned(name) if name in TORCH_PACKAGES else None
        if version and not gpu and name in ("torch", "torchvision"):
            marker = f"; {req.marker}" if req.marker else ""
            extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
            line = f"{req.name}{extras}=={version}+cpu{marker}"
        rewritten.append(line)
    option = f"--extra-index-url {index}"
    options = reqs.options if option in reqs.options else [option, *reqs.options]
    return replace(reqs, options=options, requirements=rewritten)
