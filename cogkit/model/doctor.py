"""`cogkit doctor`: Cog's project checks (pkg/doctor), grouped, with an exit status and `--fix`.

The checks and their order follow Cog's doctor: Config (parsing, schema, deprecated fields,
the predictor reference), Python (pydantic BaseModel outputs, removed imports, return annotations),
Environment (Docker, local Python). The config messages are cogkit's own loader's, hint included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from cogkit.errors import CogkitError, ConfigError
from cogkit.model import doctor_fixes as fixes

ERROR, WARNING = "error", "warning"


@dataclass
class Result:
    name: str
    description: str
    group: str
    severity: str
    findings: list[tuple[str, str]] = field(default_factory=list)  # (where, message)
    remediation: str | None = None
    fixer: Callable[[], bool] | None = None  # rewrites the files; True when it did
    fixed: bool = False


@dataclass
class Project:
    """What the checks share: the cog.yaml found, its raw data, the model's Python files."""

    config_path: Path | None
    directory: Path
    raw: dict | None = None
    loaded: bool = False  # cogkit's loader accepted it
    python_files: dict[Path, str] = field(default_factory=dict)  # file → the ref's name in it


def _where(path: Path, line: int | None, root: Path) -> str:
    try:
        shown = path.relative_to(root)
    except ValueError:
        shown = path
    return f"{shown}:{line}" if line else str(shown)


def check_config(project: Project) -> list[Result]:
    from cogkit.config.loader import find_config, load_config
    from cogkit.config.yamlpos import load_yaml

    parse = Result("config-parse", "Config parsing", "Config", ERROR)
    schema = Result("config-schema", "Config schema", "Config", ERROR)
    deprecated = Result("config-deprecated-fields", "Deprecated fields", "Config", WARNING)
    ref = Result("config-predict-ref", "Predict reference", "Config", ERROR)
    results = [parse, schema, deprecated, ref]
    if project.config_path is None:
        try:
            project.config_path = find_config(project.directory)
        except ConfigError:
            parse.findings.append(("cog.yaml", "cog.yaml not found"))
            parse.remediation = 'Run "cogkit init" to create a cog.yaml'
            return results
    path = project.config_path
    project.directory = path.parent
    try:
        data = load_yaml(path.read_text(), path.name).data
    except ConfigError as exc:
        parse.findings.append((path.name, f"{path.name} has invalid YAML: {exc.message}"))
        return results
    except OSError as exc:
        parse.findings.append((path.name, f"cannot read {path.name}: {exc.strerror}"))
        return results
    project.raw = data if isinstance(data, dict) else {}
    try:
        config = load_config(path)
    except ConfigError as exc:
        # The loader checks the predictor reference too: report that under its own check, as Cog does.
        target = (
            ref
            if any(f"'{k}'" in exc.message or f" {k} file " in exc.message for k in ("predict", "train"))
            else schema
        )
        target.findings.append((path.name, exc.message))
        target.remediation = exc.hint
    else:
        project.loaded = True
        for warning in config.warnings:
            deprecated.findings.append((path.name, warning))
    _check_refs(project, ref)
    return results


def _check_refs(project: Project, result: Result) -> None:
    if result.findings or not project.raw:
        return
    for key in ("predict", "train"):
        value = project.raw.get(key)
        if not value:
            continue
        file_part, sep, name = str(value).rpartition(":")
        if not sep or not file_part.endswith(".py"):
            result.findings.append(("cog.yaml", f"{key} must be in the form 'file.py:Name', got {value!r}"))
            continue
        file = project.directory / file_part
        if not file.is_file():
            result.findings.append(("cog.yaml", f"{file_part} not found"))
            continue
        try:
            names = fixes.top_level_names(file.read_text())
        except SyntaxError as exc:
            result.findings.append((_where(file, exc.lineno, project.directory), f"syntax error: {exc.msg}"))
            continue
        if name not in names:
            found = ", ".join(names) or "nothing"
            result.findings.append(("cog.yaml", f'class "{name}" not found in {file_part}; found: {found}'))
            continue
        project.python_files[file] = name


def check_python(project: Project) -> list[Result]:
    basemodel = Result("python-pydantic-basemodel", "Pydantic BaseModel workaround", "Python", ERROR)
    imports = Result("python-deprecated-imports", "Deprecated imports", "Python", ERROR)
    annotations = Result("python-missing-type-annotations", "Type annotations", "Python", WARNING)
    for file, name in project.python_files.items():
        source = file.read_text()
        for finding in fixes.find_pydantic_workarounds(source):
            basemodel.findings.append((_where(file, finding.line, project.directory), finding.message))
        for finding in fixes.find_removed_imports(source):
            imports.findings.append((_where(file, finding.line, project.directory), finding.message))
        for finding in fixes.find_missing_return_annotations(source, name, ("predict", "train")):
            annotations.findings.append((_where(file, finding.line, project.directory), finding.message))
    basemodel.remediation = "subclass cog.BaseModel (Cog 0.17+ needs no arbitrary_types_allowed)"
    imports.remediation = "remove the import"
    annotations.remediation = "add a return type, e.g. -> str"
    files = list(project.python_files)
    if basemodel.findings:
        basemodel.fixer = lambda: _rewrite(files, fixes.fix_pydantic_workarounds)
    if imports.findings:
        imports.fixer = lambda: _rewrite(files, fixes.fix_removed_imports)
    return [basemodel, imports, annotations]


def _rewrite(files: list[Path], fix: Callable[[str], str | None]) -> bool:
    """Apply `fix` to every file, or to none: a later failure restores the earlier ones."""
    originals: dict[Path, str] = {}
    try:
        for file in files:
            source = file.read_text()
            new = fix(source)
            if new is None:
                raise ValueError(f"cannot rewrite {file.name} safely")
            if new != source:
                originals[file] = source
                file.write_text(new)
    except (OSError, ValueError, SyntaxError):
        for file, source in originals.items():
            file.write_text(source)
        return False
    return bool(originals)


def check_environment(project: Project) -> list[Result]:
    docker = Result("env-docker", "Docker", "Environment", ERROR)
    python = Result("env-python-version", "Python version", "Environment", WARNING)
    if not (os.environ.get("COG_SKIP_DOCKER_CHECK") or os.environ.get("COGKIT_SKIP_DOCKER_CHECK")):
        binary = os.environ.get("COGKIT_DOCKER_CLI") or shutil.which("docker") or "docker"
        try:
            done = subprocess.run([binary, "info"], capture_output=True, text=True, timeout=5)
            if done.returncode != 0:
                first = next(
                    (ln for ln in (done.stderr or "").splitlines() if ln.strip()), "docker info failed"
                )
                docker.findings.append(("docker", f"Docker is not available: {first.strip()}"))
        except (OSError, subprocess.TimeoutExpired) as exc:
            docker.findings.append(("docker", f"Docker is not available: {exc}"))
        docker.remediation = "start dockerd, or set DOCKER_HOST"
    wanted = str(((project.raw or {}).get("build") or {}).get("python_version") or "")
    if wanted:
        local = f"{sys.version_info.major}.{sys.version_info.minor}"
        if ".".join(wanted.split(".")[:2]) != local:
            python.findings.append(("cog.yaml", f"local Python is {local} but cog.yaml specifies {wanted}"))
            python.remediation = "use a matching Python for --local runs (builds are unaffected)"
    return [docker, python]


def run_doctor(directory: Path, config_file: str | None, fix: bool, out: TextIO) -> int:
    """Print the report; 1 when an error-severity finding is left unfixed (warnings alone pass)."""
    print(f"Running cogkit doctor{' --fix' if fix else ''}...", file=out)
    config_path = None
    if config_file:
        config_path = Path(config_file).resolve()
        if not config_path.is_file():
            raise CogkitError(f"config file {config_file} does not exist", hint="check the path given to -f")
    project = Project(config_path, directory.resolve())
    results = check_config(project) + check_python(project) + check_environment(project)
    if fix:
        for result in results:
            if result.findings and result.fixer is not None:
                result.fixed = result.fixer()
    group = None
    for result in results:
        if result.group != group:
            group = result.group
            print(f"\n{group}", file=out)
        if not result.findings:
            print(f" ✔ {result.description}", file=out)
            continue
        if result.fixed:
            print(f" ✔ Fixed: {result.description}", file=out)
            continue
        mark = "✗" if result.severity == ERROR else "⚠"
        print(f" {mark} {result.description}", file=out)
        for where, message in result.findings:
            print(f"   {where} — {message}", file=out)
        if result.remediation:
            print(f"   Remediation: {result.remediation}", file=out)
        elif fix:
            print("   (no auto-fix available)", file=out)
    errors = [r for r in results if r.findings and r.severity == ERROR and not r.fixed]
    warnings = [r for r in results if r.findings and r.severity == WARNING and not r.fixed]
    fixed = [r for r in results if r.fixed]
    print(file=out)
    if fix and fixed:
        print(f"Fixed {len(fixed)} issues. {len(warnings)} warnings remaining. {len(errors)} unfixed errors.",
              file=out)  # fmt: skip
    elif errors or warnings:
        line = f"Found {len(errors)} errors, {len(warnings)} warnings."
        if any(r.fixer is not None for r in errors):
            line += ' Run "cogkit doctor --fix" to auto-fix.'
        print(line, file=out)
    else:
        print("no issues found", file=out)
    return 1 if errors else 0
