"""The `cog` compatibility package: stdlib-only, Cog's API surface, delegating entry modules."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import zipfile

import pytest

from cogkit.runtime import compat_path

REPO = pathlib.Path(__file__).resolve().parents[2]


def run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": compat_path(), **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=60
    )


def test_import_cog_pulls_in_no_heavy_dependencies() -> None:
    result = run_python(
        "import sys, cog\n"
        "from cog import BasePredictor, BaseModel, Input, Path, File, Secret, ConcatenateIterator\n"
        "from cog import AsyncConcatenateIterator, current_scope, CancelationException\n"
        "import cog.server.http, cog.server.redis_queue\n"
        "heavy = ('pydantic', 'aiohttp', 'fastapi', 'cogkit', 'msgspec')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "print(cog.__file__)\n"
    )
    assert result.returncode == 0, result.stderr
    heavy, location = result.stdout.splitlines()
    assert heavy == "[]"
    assert location.startswith(compat_path())


def test_compat_path_points_at_the_package_data() -> None:
    path = pathlib.Path(compat_path())
    assert (path / "cog" / "__init__.py").is_file()
    assert path.parent.name == "cogkit"


def test_api_semantics() -> None:
    sys.path.insert(0, compat_path())
    try:
        import cog
        from cog.scope import Scope, _activate, _deactivate
    finally:
        sys.path.remove(compat_path())
    assert isinstance(cog.Path("/tmp/x"), pathlib.Path)
    secret = cog.Secret("hunter2")
    assert repr(secret) == "Secret('**********')" and str(secret) == "**********"
    assert "hunter2" not in f"{secret} {secret!r} {[secret]}"
    assert secret.get_secret_value() == "hunter2"
    assert issubclass(cog.CancelationException, BaseException)
    assert not issubclass(cog.CancelationException, Exception)

    class Output(cog.BaseModel):
        text: str
        image: cog.Path | None
        score: float = 1.0

    out = Output(text="hi")
    assert out.image is None and out.score == 1.0
    assert out.model_dump() == {"text": "hi", "image": None, "score": 1.0}
    with pytest.raises(TypeError):
        Output(image=None)
    with pytest.raises(TypeError):
        Output(text="x", unknown=1)

    field = cog.Input(default=3, ge=1, choices=iter([1, 3]))
    assert field.default == 3 and field.choices == [1, 3] and not field.required
    assert cog.Input().required

    scope = Scope({"k": "v"})
    token = _activate(scope)
    try:
        cog.current_scope().record_metric("a", 1)
        cog.current_scope().record_metric("a", 2, mode="incr")
        cog.current_scope().record_metric("b", "x", mode="append")
        with pytest.raises(ValueError):
            cog.current_scope().record_metric("predict_time", 1)
    finally:
        _deactivate(token)
    assert scope.metrics == {"a": 3, "b": ["x"]}
    assert cog.current_scope().metrics == {}  # outside a prediction: a throwaway scope


def test_server_entry_delegates_lazily_and_fails_clearly_when_missing() -> None:
    result = run_python(
        "from cog.server._delegate import run\nrun('cogkit.runtime.no_such_server', 'HTTP server', [])\n"
    )
    assert result.returncode == 1
    assert "error: cogkit's HTTP server is not available" in result.stderr
    assert "Traceback" not in result.stderr

    result = run_python(
        "import sys, types\n"
        "fake = types.ModuleType('fake_server')\n"
        "fake.main = lambda argv: print('delegated', argv) or 7\n"
        "sys.modules['fake_server'] = fake\n"
        "from cog.server._delegate import run\nrun('fake_server', 'x', ['--port', '1'])\n"
    )
    assert result.returncode == 7
    assert result.stdout.strip() == "delegated ['--port', '1']"


def test_wheel_ships_the_compat_tree_inside_cogkit(tmp_path: pathlib.Path) -> None:
    """`cogkit/_compat` is a symlink in the checkout; a built wheel must contain real files."""
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
         str(REPO)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(tmp_path.glob("cogkit-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("__init__.py", "types.py", "server/http.py", "server/redis_queue.py"):
        assert f"cogkit/_compat/cog/{module}" in names
    assert not any(name.startswith("cog/") for name in names)  # never a top-level `cog`


def test_metrics_follow_current_cog() -> None:
    """Dotted names nest, modes and value types are checked, invalid names are refused (coglet's rules)."""
    from cog.scope import Scope

    scope = Scope()
    scope.record_metric("timing.preprocess", 0.5)
    scope.record_metric("timing.inference", 2)
    scope.record_metric("count", 1, mode="increment")
    scope.record_metric("count", 2, mode="incr")
    scope.record_metric("seen", "a", mode="append")
    scope.metrics.record("seen", "b", mode="append")
    scope.metrics["gone"] = True
    scope.metrics["gone"] = None  # item assignment of None deletes
    scope.metrics["flag"] = False
    del scope.metrics["flag"]
    assert scope.metrics == {"timing": {"preprocess": 0.5, "inference": 2}, "count": 3, "seen": ["a", "b"]}

    bad_names = {
        "": "must not be empty",
        "a" * 129: "128 characters or fewer (got 129 characters)",
        "a.b.c.d.e": "at most 4 dot-separated segments (got 5)",
        ".a": "must not start with a dot",
        "a.": "must not end with a dot",
        "a..b": "empty segments",
        "1a": "segment '1a' must start with a letter",
        "a-b": "contains invalid character '-'",
        "a__b": "must not contain consecutive underscores",
        "ab_": "must end with a letter or digit",
        "predict_time": "'predict_time' is reserved by the runtime",
        "cog.x": "the 'cog.' prefix is reserved for system metrics",
    }
    for name, message in bad_names.items():
        with pytest.raises(ValueError, match=re.escape(message)):
            scope.record_metric(name, 1)
    expected_modes = "Invalid metric mode: 'sum'. Expected 'replace', 'incr', or 'append'."
    with pytest.raises(TypeError, match=re.escape(expected_modes)):
        scope.record_metric("a", 1, mode="sum")
    with pytest.raises(TypeError, match="Increment mode requires int or float, got str"):
        scope.record_metric("a", "x", mode="incr")
    with pytest.raises(TypeError, match="Unsupported metric value type: NoneType"):
        scope.record_metric("a", None)
    with pytest.raises(TypeError, match="Metric 'count' has type int, cannot set to str without deleting"):
        scope.record_metric("count", "three")


def test_emit_metric_is_a_deprecated_alias_with_one_notice() -> None:
    result = run_python(
        "import cog\nfrom cog.scope import Scope, _activate\ns = Scope()\n_activate(s)\n"
        "cog.emit_metric('a.b', 1)\ncog.emit_metric('c', 2)\nprint(dict(s.metrics))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'a': {'b': 1}, 'c': 2}"
    assert result.stderr.count("emit_metric() is deprecated") == 1
    assert "Use current_scope().record_metric(name, value) instead." in result.stderr


def test_newer_cog_names_import() -> None:
    import cog

    for name in ("BaseRunner", "Opaque", "URLFile", "URLPath", "FieldInfo", "streaming", "concurrent"):
        assert hasattr(cog, name), name

    @cog.streaming
    def plain() -> None: ...

    assert cog.streaming()(plain) is plain
    with pytest.raises(TypeError, match="concurrent max greater than 1 requires an async function"):
        cog.concurrent(max=2)(plain)
    with pytest.raises(ValueError, match="concurrent max must be at least 1"):
        cog.concurrent(max=0)
