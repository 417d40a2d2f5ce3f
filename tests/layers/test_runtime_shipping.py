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
    return head in RUNTIME_INCLUDE or f"{head}.py" in RUNTIME_INCLUDE or head == "_compat"


def test_everything_the_runtime_imports_from_cogkit_is_shipped() -> None:
    files = [*(PACKAGE / "runtime").rglob("*.py"), *COMPAT.rglob("*.py"), PACKAGE / "runtime" / "pid1.py"]
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
