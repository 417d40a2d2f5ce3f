"""Each cogkit package imports only the packages below it (README, "How it fits together").

Building: config → layers → llb; context (ignore rules, weights) under layers and buildkit; buildkit →
llb; images → layers, buildkit, docker; model, commands and cli on top. Serving: runtime imports none
of the build side. Every import counts, including the lazy ones inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cogkit"
# Leaves anything may use: the package root (__version__), the error types, Ctrl-C handling.
SHARED = {"cogkit", "errors", "interrupts"}
# package -> the packages it may import (besides itself and SHARED).
BELOW: dict[str, set[str]] = {
    "config": set(),
    "context": set(),
    "llb": set(),
    "schema": set(),  # issue 15's runtime side: one schema package for build, CLI and runtime
    "docker": set(),
    "layers": {"config", "context", "llb"},
    "buildkit": {"context", "llb"},
    "runtime": {"config", "schema"},
    # runtime: the OpenAPI label is generated from the predictor's source (cogkit.runtime.schema
    # until cogkit/schema holds it)
    "images": {"buildkit", "config", "context", "docker", "layers", "llb", "runtime", "schema"},
    "model": {"config", "docker", "images", "runtime", "schema"},
    "commands": {"buildkit", "config", "docker", "images", "layers", "llb", "model", "runtime", "schema"},
    "cli": {"commands"},
    "__main__": {"cli"},
}
BUILD_SIDE = {"buildkit", "commands", "cli", "context", "docker", "images", "layers", "llb", "model"}
SKIPPED = ("_compat", "pb")  # the cog shim (tested on its own) and generated protobuf modules


def _package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "cogkit"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        if any(part in SKIPPED for part in rel.parts):
            continue
        parts = list(rel.parts[:-1]) if rel.name == "__init__" else list(rel.parts)
        found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path) -> set[str]:
    """Every cogkit module `module` imports, relative imports resolved."""
    out = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "cogkit"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "cogkit":
                continue
            if target == "cogkit":  # `from cogkit import llb` imports the package llb
                out |= {f"cogkit.{a.name}" for a in node.names}
            else:
                out.add(target)
    return out


def _violations() -> tuple[list[str], int]:
    modules = _modules()
    known = {_package_of(m) for m in modules}
    bad, seen = [], 0
    for module, path in modules.items():
        source = _package_of(module)
        allowed = BELOW.get(source, set()) | SHARED | {source}
        for target in sorted(_imports(module, path)):
            seen += 1
            package = _package_of(target)
            if package not in known:
                continue  # an attribute of cogkit/__init__.py (`from cogkit import __version__`)
            if package not in allowed:
                bad.append(f"{module} imports {target} ({source} may import only {sorted(BELOW[source])})")
    return bad, seen


def test_every_package_has_a_place_in_the_layering() -> None:
    packages = {_package_of(m) for m in _modules()} - SHARED
    assert packages, "found no cogkit modules"
    assert packages <= set(BELOW), f"add {sorted(packages - set(BELOW))} to BELOW in {__file__}"


def test_the_layering_has_no_cycles() -> None:
    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        below = BELOW.get(start, ())
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in below)

    cycles = [p for p in BELOW if reaches(p, p)]
    assert not cycles, f"packages that import themselves through others: {cycles}"


def test_packages_import_only_downward() -> None:
    bad, seen = _violations()
    assert seen > 100, f"only {seen} cogkit imports found; the walk is broken"
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("side", sorted(BUILD_SIDE))
def test_the_runtime_imports_nothing_of_the_build_side(side: str) -> None:
    assert side not in BELOW["runtime"]
    modules = _modules()
    leaks = sorted(
        f"{m} imports {t}"
        for m, p in modules.items()
        if _package_of(m) == "runtime"
        for t in _imports(m, p)
        if _package_of(t) == side
    )
    assert not leaks, leaks


def test_the_walk_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The checker itself: an import inside a function and a relative one are both found."""
    pkg = tmp_path / "cogkit" / "llb"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import state\n")
    lazy = "def f():\n    from cogkit.buildkit import client\n    from ..images import x\n"
    (pkg / "state.py").write_text(lazy)
    assert _imports("cogkit.llb", pkg / "__init__.py") == {"cogkit.llb"}
    assert _imports("cogkit.llb.state", pkg / "state.py") == {"cogkit.buildkit", "cogkit.images"}
