"""cogkit/layers/pip_freeze.py prints byte for byte what `python -m pip freeze` prints, without pip.

Real interpreters (pyenv builds 3.8–3.13 under /root/.pyenv/versions, each with the pip it ships:
23.0.1 on 3.8–3.10, 23.2.1 on 3.11/3.12, 24.2 on 3.13), each in a venv with real installs: wheels by
name from a find-links directory and by path (a PEP 610 direct URL, with pip's hash), one installed
by uv (its direct_url.json has no hash), dotted, capitalised and underscored names, pre-release and
local versions, and on the 3.12 venv setuptools and wheel, which pip freeze lists there and hides on
older Pythons. Each venv's output is compared with real `pip freeze`, and the fast path must have
been taken (no pip run). The cases it cannot prove (a version pip rewrites, an editable install, an
option in PIP_*) must run pip, and still print pip's output. With CI=true a missing interpreter fails.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cogkit.layers import pip_freeze

SCRIPT = Path(pip_freeze.__file__)
IN_CI = os.environ.get("CI", "").lower() == "true"
VERSIONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13")
# (wheel file's distribution name, METADATA Name, version, top-level package)
WHEELS = [
    ("my.pkg", "my.pkg", "1.0", "mypkg"),
    ("PyFoo", "PyFoo", "2.0rc1", "pyfoo"),
    ("torchish", "torchish", "2.13.0+cpu", "torchish"),
    ("under_score", "Under_Score", "0.1.post2", "underscore"),
    ("direct", "Direct", "3.0", "direct"),
    ("uvdirect", "uvdirect", "1.2.3", "uvdirect"),
    ("legacyver", "legacyver", "1.0.RC1", "legacyver"),  # not PEP 440's normal form: pip rewrites it
]
# Only what pip freeze reads: no PIP_* option, no config file reaching the interpreters from this host.
ISOLATED = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent", "LC_ALL": "C.UTF-8"}


def wheel(dest: Path, dist: str, name: str, version: str, package: str) -> Path:
    """A minimal real wheel (METADATA, WHEEL, RECORD with hashes) that pip and uv install offline."""
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{package}/__init__.py": b"x = 1\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: cogkit-test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    path = dest / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


def _interpreter(version: str) -> str:
    found = sorted(glob.glob(f"/root/.pyenv/versions/{version}.*/bin/python{version}"))
    if not found:
        message = f"no Python {version} (pyenv build under /root/.pyenv/versions)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found[-1]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env or ISOLATED)
    assert done.returncode == 0, f"{args}: {done.stderr[-600:]}"
    return done


def _uv() -> str:
    candidate = Path(sys.executable).with_name("uv")
    return str(candidate) if candidate.exists() else shutil.which("uv") or "uv"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("wheels")
    for spec in WHEELS:
        wheel(dest, *spec)
    return dest


def make_venv(version: str, where: Path, wheels: Path) -> str:
    _run(_interpreter(version), "-m", "venv", str(where))
    python = str(where / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-index"]
    _run(*pip, "--find-links", str(wheels), "my.pkg", "PyFoo", "torchish", "Under-Score")
    _run(*pip, str(wheels / "direct-3.0-py3-none-any.whl"))  # direct_url.json with pip's hash
    _run(_uv(), "pip", "install", "-q", "--offline", "--python", python,
         str(wheels / "uvdirect-1.2.3-py3-none-any.whl"))  # fmt: skip
    return python


@pytest.fixture(scope="module", params=VERSIONS)
def venv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, wheels: Path) -> str:
    return make_venv(request.param, tmp_path_factory.mktemp(f"py{request.param}"), wheels)


def purelib(python: str) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(_run(python, "-c", code).stdout.strip())


def real_freeze(python: str, env: dict[str, str] | None = None) -> str:
    return _run(python, "-m", "pip", "freeze", "--disable-pip-version-check", env=env).stdout


def ours(python: str, env: dict[str, str] | None = None) -> str:
    return _run(python, str(SCRIPT), env=env).stdout


def fast_path(python: str, env: dict[str, str] | None = None) -> str:
    """'fast' when freeze_lines proves the output without pip, else why not."""
    probe = (
        "import importlib.util, os, sys\n"
        f"spec = importlib.util.spec_from_file_location('pf', {str(SCRIPT)!r})\n"
        "pf = importlib.util.module_from_spec(spec); spec.loader.exec_module(pf)\n"
        "try:\n"
        "    pf.freeze_lines(sys.path[1:], os.environ, sys.version_info[:2]); print('fast')\n"
        "except pf.Unsure as why:\n"
        "    print('pip:', why)\n"
    )
    return _run(python, "-c", probe, env=env).stdout.strip()


def test_same_bytes_as_pip_freeze_without_running_pip(venv: str) -> None:
    expected = real_freeze(venv)
    assert "Direct @ file://" in expected  # the cases are really there (pip >= 23.2 adds #sha256=…)
    assert "uvdirect @ file://" in expected and "torchish==2.13.0+cpu" in expected
    assert ours(venv) == expected
    assert fast_path(venv) == "fast"


def test_setuptools_and_wheel_listed_as_pip_lists_them(tmp_path: Path, wheels: Path) -> None:
    """pip freeze hides setuptools and wheel below Python 3.12 (pip >= 23.2) and shows them from 3.12."""
    for version in ("3.11", "3.12"):
        python = make_venv(version, tmp_path / version, wheels)
        site = purelib(python)
        for name, number in (("setuptools", "69.0.0"), ("wheel", "0.42.0")):
            if any(site.glob(f"{name}-*.dist-info")):  # the venv's own (3.11's venv has setuptools)
                continue
            info = site / f"{name}-{number}.dist-info"  # metadata only: what freeze reads
            info.mkdir()
            (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {number}\n\n")
        expected = real_freeze(python)
        assert ("\nsetuptools==" in expected and "\nwheel==" in expected) == (version == "3.12")
        assert ours(python) == expected
        assert fast_path(python) == "fast"


def test_what_it_cannot_prove_is_left_to_pip(tmp_path: Path, wheels: Path) -> None:
    python = make_venv("3.11", tmp_path / "v", wheels)
    option = {**ISOLATED, "PIP_EXCLUDE": "pyfoo"}  # a freeze option pip reads from the environment
    assert fast_path(python, option) == "pip: PIP_EXCLUDE"
    assert ours(python, option) == real_freeze(python, option)
    assert "PyFoo" not in ours(python, option)
    harmless = {**ISOLATED, "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt", "PIP_DEFAULT_TIMEOUT": "60"}
    assert fast_path(python, harmless) == "fast"

    _run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-index",
         "--find-links", str(wheels), "legacyver")  # fmt: skip
    assert fast_path(python).startswith("pip: ")
    expected = real_freeze(python)
    assert "legacyver==1.0rc1" in expected  # pip prints the normalised version
    assert ours(python) == expected

    site = purelib(python)
    shutil.rmtree(next(site.glob("legacyver-*.dist-info")))
    info = next(site.glob("PyFoo-*.dist-info"))
    project = tmp_path / "pyfoo-src"
    project.mkdir()
    (info / "direct_url.json").write_text(
        json.dumps({"url": project.as_uri(), "dir_info": {"editable": True}})
    )
    assert fast_path(python).startswith("pip: ")
    expected = real_freeze(python)
    assert "-e " in expected or "editable" in expected  # pip's own editable form
    assert ours(python) == expected


@pytest.mark.parametrize(
    ("version", "normal"),
    [
        ("1.0", True),
        ("2.13.0+cpu", True),
        ("1!2.0.post1.dev3", True),
        ("1.0rc0", True),
        ("0.1a1+ubuntu.1", True),
        ("1.0.RC1", False),
        ("01.0", False),
        ("1.0-1", False),
        ("0!1.0", False),
        ("1.0+001", False),
        ("v1.0", False),
        ("1.0c1", False),
        ("1.0_post1", False),
    ],  # fmt: skip
)
def test_versions_pip_would_rewrite_are_recognised(version: str, normal: bool) -> None:
    assert bool(pip_freeze.CANONICAL_VERSION.match(version)) is normal


@pytest.mark.parametrize("version", ["3.10", "3.13"])  # pkg_resources' backend, importlib's
def test_a_distribution_found_again_further_down_sys_path_is_skipped_as_pip_skips_it(
    version: str, tmp_path: Path, wheels: Path
) -> None:
    """Debian-based images have setuptools twice (Debian's .egg-info below a newer one): the first counts."""
    python = make_venv(version, tmp_path / "v", wheels)
    extra = tmp_path / "extra"
    for number in ("9.0", "8.0"):  # one in front of the venv's PyFoo 2.0rc1, and one again behind it
        info = (extra if number == "9.0" else tmp_path / "behind") / f"PyFoo-{number}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: PyFoo\nVersion: {number}\n\n")
    env = {**ISOLATED, "PYTHONPATH": str(extra)}
    expected = real_freeze(python, env)
    assert "PyFoo==9.0" in expected and "PyFoo==2.0rc1" not in expected
    assert ours(python, env) == expected
    assert fast_path(python, env) == "fast"
    site = purelib(python)
    (site / "behind.pth").write_text(str(tmp_path / "behind") + "\n")  # a .pth appends it after site-packages
    expected = real_freeze(python)
    assert "PyFoo==2.0rc1" in expected and "PyFoo==8.0" not in expected
    assert ours(python) == expected
    assert fast_path(python) == "fast"
