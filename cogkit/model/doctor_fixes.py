"""Source checks and rewrites behind `cogkit doctor` for the model's Python files (pure: text in, text out).

Each finder returns the lines it objects to; each fixer returns the new source, or None when it
cannot rewrite safely (the check then stays an unfixed finding). Rewrites are line-based edits at
positions `ast` reports, so comments and formatting elsewhere in the file survive untouched.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

REMOVED_IMPORTS = {"ExperimentalFeatureWarning"}  # gone from the cog package in Cog 0.17
_COG_MODULES = {"cog", "cog.types"}


@dataclass(frozen=True)
class Finding:
    line: int
    message: str


# --------------------------------------------------------------------------- pydantic BaseModel


def _pydantic_basemodel_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(local names bound to pydantic.BaseModel, names bound to the pydantic module)."""
    classes: set[str] = set()
    modules: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "pydantic":
            classes |= {a.asname or a.name for a in node.names if a.name == "BaseModel"}
        elif isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name == "pydantic"}
    return classes, modules


def _is_pydantic_base(base: ast.expr, classes: set[str], modules: set[str]) -> bool:
    if isinstance(base, ast.Name):
        return base.id in classes
    return (
        isinstance(base, ast.Attribute)
        and base.attr == "BaseModel"
        and isinstance(base.value, ast.Name)
        and base.value.id in modules
    )


def _arbitrary_types_config(cls: ast.ClassDef) -> ast.Assign | None:
    """`model_config = ConfigDict(arbitrary_types_allowed=True)`: the workaround Cog 0.17 made unneeded."""
    for stmt in cls.body:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == "model_config"
            and isinstance(stmt.value, ast.Call)
            and any(
                k.arg == "arbitrary_types_allowed"
                and isinstance(k.value, ast.Constant)
                and k.value.value is True
                for k in stmt.value.keywords
            )
        ):
            return stmt
    return None


def _workaround_classes(tree: ast.Module) -> list[tuple[ast.ClassDef, ast.expr, ast.Assign]]:
    classes, modules = _pydantic_basemodel_names(tree)
    found = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        base = next((b for b in node.bases if _is_pydantic_base(b, classes, modules)), None)
        config = _arbitrary_types_config(node) if base is not None else None
        if base is not None and config is not None:
            found.append((node, base, config))
    return found


def find_pydantic_workarounds(source: str) -> list[Finding]:
    tree = ast.parse(source)
    return [
        Finding(
            cls.lineno,
            f"{cls.name} subclasses pydantic.BaseModel with arbitrary_types_allowed=True; "
            "use cog.BaseModel for outputs instead",
        )
        for cls, _, _ in _workaround_classes(tree)
    ]


def fix_pydantic_workarounds(source: str) -> str | None:
    tree = ast.parse(source)
    found = _workaround_classes(tree)
    if not found:
        return source
    fixed_names = {cls.name for cls, _, _ in found}
    classes, modules = _pydantic_basemodel_names(tree)
    # Another class still on pydantic's BaseModel keeps that name: cog's is then imported as CogBaseModel.
    still_pydantic = any(
        isinstance(n, ast.ClassDef)
        and n.name not in fixed_names
        and any(_is_pydantic_base(b, classes, modules) for b in n.bases)
        for n in tree.body
    )
    cog_name = "CogBaseModel" if still_pydantic and "BaseModel" in classes else "BaseModel"
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, int, int, str]] = []  # (line, col, end_line, end_col, text), 1-based lines
    for _cls, base, config in found:
        edits.append(_span(base, cog_name))
        call = config.value
        assert isinstance(call, ast.Call)
        others = [k for k in call.keywords if k.arg != "arbitrary_types_allowed"]
        if not others and not call.args:
            edits.append(
                (config.lineno, 0, (config.end_lineno or config.lineno) + 1, 0, "")
            )  # the whole line
        else:
            kept = ", ".join(ast.get_source_segment(source, k) or "" for k in [*call.args, *others])
            func = ast.get_source_segment(source, call.func) or "ConfigDict"
            edits.append(_span(call, f"{func}({kept})"))
    text = _apply(lines, edits)
    # With cog's BaseModel taking the plain name, pydantic's import of it must go whatever uses the name.
    forced = {"BaseModel"} if cog_name == "BaseModel" else set()
    text = _prune_imports(text, "pydantic", {"BaseModel", "ConfigDict"}, forced)
    return _tidy(_add_cog_import(text, "BaseModel", cog_name))


# --------------------------------------------------------------------------- removed imports


def _removed_import_nodes(tree: ast.Module) -> list[ast.ImportFrom]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom)
        and n.module in _COG_MODULES
        and any(a.name in REMOVED_IMPORTS for a in n.names)
    ]


def find_removed_imports(source: str) -> list[Finding]:
    tree = ast.parse(source)
    return [
        Finding(
            node.lineno,
            "ExperimentalFeatureWarning was removed in cog 0.17; "
            "current_scope().record_metric() is no longer experimental",
        )
        for node in _removed_import_nodes(tree)
    ]


def fix_removed_imports(source: str) -> str | None:
    tree = ast.parse(source)
    nodes = _removed_import_nodes(tree)
    if not nodes:
        return source
    bound = {a.asname or a.name for n in nodes for a in n.names if a.name in REMOVED_IMPORTS}
    edits: list[tuple[int, int, int, int, str]] = []
    dropped_refs: set[str] = set()
    for node in nodes:
        kept = [a for a in node.names if a.name not in REMOVED_IMPORTS]
        if kept:
            names = ", ".join(f"{a.name} as {a.asname}" if a.asname else a.name for a in kept)
            edits.append(_span(node, f"from {node.module} import {names}"))
        else:
            edits.append(_whole_lines(node))
    # Statements that use the removed name (typically warnings.filterwarnings(..., category=...)) go too.
    for stmt in _simple_statements(tree):
        if isinstance(stmt, ast.ImportFrom) and stmt in nodes:
            continue
        names = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
        if names & bound:
            if not isinstance(stmt, ast.Expr | ast.Assign):
                return None  # used in something more than a call or assignment: leave it to a person
            edits.append(_whole_lines(stmt))
            dropped_refs |= names - bound
    text = _apply(source.splitlines(keepends=True), edits)
    return _tidy(_prune_orphan_module_imports(text, dropped_refs))


# --------------------------------------------------------------------------- annotations


def find_missing_return_annotations(source: str, name: str, methods: tuple[str, ...]) -> list[Finding]:
    """`predict()`/`train()` (in class `name`, or the function `name`) without `-> T`."""
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return (
                []
                if node.returns
                else [Finding(node.lineno, f"{name}() is missing a return type annotation")]
            )
        if isinstance(node, ast.ClassDef) and node.name == name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name in methods:
                    if item.returns is None:
                        return [
                            Finding(item.lineno, f"{name}.{item.name}() is missing a return type annotation")
                        ]
                    return []
    return []


def top_level_names(source: str) -> list[str]:
    """Classes and functions a `file.py:Name` reference could name."""
    tree = ast.parse(source)
    return [n.name for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)]


# --------------------------------------------------------------------------- editing helpers


def _simple_statements(tree: ast.Module) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            for stmt in getattr(node, field, []) or []:
                if isinstance(stmt, ast.stmt) and not hasattr(stmt, "body"):
                    out.append(stmt)
    return out


def _span(node: ast.expr | ast.stmt, text: str) -> tuple[int, int, int, int, str]:
    """Replace exactly the source of `node` with `text`."""
    return (node.lineno, node.col_offset, node.end_lineno or node.lineno, node.end_col_offset or 0, text)


def _whole_lines(node: ast.stmt) -> tuple[int, int, int, int, str]:
    return (node.lineno, 0, (node.end_lineno or node.lineno) + 1, 0, "")


def _apply(lines: list[str], edits: list[tuple[int, int, int, int, str]]) -> str:
    """Replace each (line, col)-(end_line, end_col) span; applied bottom-up so positions stay valid."""
    lines = list(lines)
    for line, col, end_line, end_col, text in sorted(edits, reverse=True):
        start = line - 1
        if end_col == 0 and end_line - 1 >= len(lines):  # a whole-line removal at the end of the file
            lines[start:] = [lines[start][:col] + text] if col else ([text] if text else [])
            continue
        end = end_line - 1
        head = lines[start][:col]
        tail = lines[end][end_col:] if end < len(lines) else ""
        lines[start : end + 1] = [head + text + tail] if (head + text + tail) else []
    return "".join(lines)


def _tidy(source: str) -> str:
    """Removed lines leave blank runs behind: no leading blank lines, at most two in a row."""
    out: list[str] = []
    blanks = 0
    for line in source.splitlines(keepends=True):
        if line.strip():
            blanks = 0
        else:
            blanks += 1
            if not out or blanks > 2 or out[-1].rstrip().endswith(":"):
                continue
        out.append(line)
    return "".join(out)


def _used_names(tree: ast.Module) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _prune_imports(source: str, module: str, candidates: set[str], forced: set[str] = frozenset()) -> str:
    """Drop names in `candidates` imported from `module` that nothing uses any more (`forced`: regardless)."""
    tree = ast.parse(source)
    used = _used_names(tree) - set(forced)
    edits = []
    for node in tree.body:
        if not (isinstance(node, ast.ImportFrom) and node.module == module):
            continue
        kept = [a for a in node.names if a.name not in candidates or (a.asname or a.name) in used]
        if len(kept) == len(node.names):
            continue
        if kept:
            names = ", ".join(f"{a.name} as {a.asname}" if a.asname else a.name for a in kept)
            edits.append(_span(node, f"from {module} import {names}"))
        else:
            edits.append(_whole_lines(node))
    return _apply(source.splitlines(keepends=True), edits)


def _prune_orphan_module_imports(source: str, modules: set[str]) -> str:
    """`import warnings` whose only use went with a removed statement."""
    tree = ast.parse(source)
    used = _used_names(tree)
    edits = []
    for node in tree.body:
        if isinstance(node, ast.Import) and len(node.names) == 1:
            alias = node.names[0]
            name = alias.asname or alias.name
            if name in modules and name not in used:
                edits.append(_whole_lines(node))
    return _apply(source.splitlines(keepends=True), edits)


def _add_cog_import(source: str, name: str, local: str) -> str:
    """Import `name` (as `local`) from cog: into an existing one-line `from cog import`, else a new line."""
    tree = ast.parse(source)
    spelled = name if local == name else f"{name} as {local}"
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "cog" and node.lineno == node.end_lineno:
            if any((a.asname or a.name) == local for a in node.names):
                return source
            names = ", ".join(f"{a.name} as {a.asname}" if a.asname else a.name for a in node.names)
            return _apply(
                source.splitlines(keepends=True),
                [(node.lineno, node.col_offset, node.lineno, node.end_col_offset or 0,
                  f"from cog import {names}, {spelled}")],
            )  # fmt: skip
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    after = (imports[-1].end_lineno or imports[-1].lineno) if imports else 0
    lines = source.splitlines(keepends=True)
    lines.insert(after, f"from cog import {spelled}\n")
    return "".join(lines)
