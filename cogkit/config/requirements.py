"""The user's Python requirements: read them, find torch/tensorflow pins, point torch at its wheel index.

Requirement lines are passed to uv verbatim (uv understands pip's requirements format, including
--index-url/--extra-index-url/--find-links inside the file); cogkit only adds an index line and
the +cpu local version for torch on CPU builds, as Cog does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cogkit.config.compat import TORCH_PACKAGES, CudaChoice, torch_index_url
from cogkit.errors import ConfigError

if TYPE_CHECKING:
    from packaging.requirements import Requirement

_INCLUDE = re.compile(r"^(-r|--requirement)[\s=]+(?P<path>\S+)$")


@dataclass
class PythonRequirements:
    options: list[str] = field(default_factory=list)  # lines such as --extra-index-url URL
    requirements: list[str] = field(default_factory=list)

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
    for line in _logical_lines(text):
        include = _INCLUDE.match(line)
        if include:
            target = (path.parent / include.group("path")).resolve()
            if target in _seen:
                continue
            nested = read_requirements_file(target, project_dir, _seen | {path.resolve()})
            out.options += [o for o in nested.options if o not in out.options]
            out.requirements += nested.requirements
        elif line.startswith("-") and not line.startswith(("-e", "--editable")):
            if line not in out.options:
                out.options.append(line)
        else:
            out.requirements.append(line)
    return out


def from_packages(packages: list[str]) -> PythonRequirements:
    """build.python_packages as a requirements list (Cog's deprecated inline form)."""
    return PythonRequirements([], [p.strip() for p in packages if p.strip()])


def rewrite_for_cuda(reqs: PythonRequirements, gpu: bool, choice: CudaChoice) -> PythonRequirements:
    """Point pinned torch/torchvision/torchaudio at the wheel index matching the build.

    GPU: --extra-index-url …/whl/cuXYZ for the chosen torch CUDA variant. CPU: the +cpu local
    version for torch and torchvision, from …/whl/cpu (Cog's behaviour; the CPU wheels are ~5x smaller).
    """
    if not any(reqs.pinned(name) for name in TORCH_PACKAGES):
        return reqs
    if gpu and choice.torch_cuda is None:
        return reqs
    index = torch_index_url(choice.torch_cuda if gpu else None)
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
    return PythonRequirements(options, rewritten)
