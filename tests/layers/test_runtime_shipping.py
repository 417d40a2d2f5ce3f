"""The image ships only part of the cogkit package: everything the runtime imports must be in it."""

from __future__ import annotations

import ast
from pathlib import Path

from cogkit.layers.compile import RUNTIME_INCLUDE
from cogkit.layers.plan import RUNTIME_COMPAT, RUNTIME_SRC, runtime_sources

PACKAGE = Path(runtime_sources()[RUNTIME_SRC])
COMPAT = Path(runtime_sources()[RUNTIME_COMPAT])


def _shipped(module: str) -> bool:
    parts = module.split(".")[1:]  # drop "cogkit"
    if not parts:
        return "__init__.py" in RUNTIME_INCLUDE
    head = parts[0]
    if not (PACKAGE / head).is_dir() and not (PACKAGE / f"{head}.py").exists():
        return "__init__.py" in RUNTIME_INCLUDE  # an attribute of cogkit/__init__.py, e.g. __version__
    if len(parts) > 1 and f"{head}/{parts[1]}.py" in RUNTIME_INCLUDE:  # one module of a package
        return f"{head}/__init__.py" in RUNTIME_INCLUDE
    return head in RUNTIME_INCLUDE or f"{head}.py" in RUNTIME_INCLUDE or head == "_compat"


def _shipped_files() -> list[Path]:
    """The .py files RUNTIME_INCLUDE puts into the image (whole packages and single modules)."""
    files: list[Path] = []
    for name in RUNTIME_INCLUDE:
        path = PACKAGE / name
        files.extend(path.rglob("*.py") if path.is_dir() else [path] if path.suffix == ".py" else [])
    return files


def _partial_package_inits() -> list[Path]:
    """`pkg/__init__.py` of packages shipped module by module (e.g. config/__init__.py)."""
    return [PACKAGE / n for n in RUNTIME_INCLUDE if "/" in n and n.endswith("/__init__.py")]


def test_partially_shipped_packages_import_nothing_when_imported() -> None:
    """Their __init__ may name the rest of the package only lazily (PEP 562 __getattr__, TYPE_CHECKING),
    so importing the shipped module never reaches a module the image lacks."""
    for init in _partial_package_inits():
        for node in ast.parse(init.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module in ("__future__", "typing"):
                continue
            is_type_checking = isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
            assert not isinstance(node, ast.Import | ast.ImportFrom) or is_type_checking, (
                f"{init.relative_to(PACKAGE)}:{node.lineno} imports at import time")


def test_everything_the_runtime_imports_from_cogkit_is_shipped() -> None:
    lazy = set(_partial_package_inits())  # checked by the test below
    files = [*(f for f in _shipped_files() if f not in lazy), *COMPAT.rglob("*.py")]
    missing = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [
                    f"{node.module}.{a.name}" for a in node.names if node.module == "cogkit"
                ]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            missing |= {f"{n} (from {file.relative_to(PACKAGE.parent)})" for n in names
                        if n.startswith("cogkit") and not _shipped(n)}  # fmt: skip
    assert not missing, f"the image would lack: {sorted(missing)}; add them to RUNTIME_INCLUDE"


def test_pid1_uses_only_the_standard_library() -> None:
    tree = ast.parse((PACKAGE / "runtime" / "pid1.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported <= {"os", "signal", "sys"}


def test_shipped_packages_never_import_pydantic() -> None:
    """The image's runtime (and the predictor child) must import where pydantic is absent."""
    offenders = set()
    for file in _shipped_files():
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders |= {str(file.relative_to(PACKAGE)) for n in names if n.split(".")[0] == "pydantic"}
    assert not offenders


def test_the_runtime_imports_without_pydantic() -> None:
    """Behaviourally: the runtime's entry modules import in a process where pydantic is blocked."""
    import subprocess
    import sys

    modules = ["cogkit.runtime.server", "cogkit.runtime.child", "cogkit.runtime.queue.entrypoint",
               "cogkit.runtime.runner", "cogkit.schema.openapi", "cogkit.schema.signature_ast"]
    code = "import sys; sys.modules['pydantic'] = None\n" + "".join(f"import {m}\n" for m in modules)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_shipped_code_is_python_3_10_syntax_and_avoids_3_11_only_names() -> None:
    """Images may run an older Python than cogkit's own (a base image's 3.10): syntax and the
    3.11-only names people reach for (datetime.UTC, asyncio.TaskGroup/timeout, tomllib, StrEnum)."""
    too_new = {("datetime", "UTC"), ("asyncio", "TaskGroup"), ("asyncio", "timeout"), ("enum", "StrEnum")}
    found = []
    for file in [*_shipped_files(), *COMPAT.rglob("*.py")]:
        tree = ast.parse(file.read_text(), str(file), feature_version=(3, 10))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                found += [f"{file.name}: {node.module}.{a.name}" for a in node.names
                          if (node.module, a.name) in too_new]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if (node.value.id, node.attr) in too_new:
                    found.append(f"{file.name}: {node.value.id}.{node.attr}")
            elif isinstance(node, ast.Import) and any(a.name == "tomllib" for a in node.names):
                found.append(f"{file.name}: tomllib")
    assert not found
