"""`cogkit doctor [--fix]` on real temporary projects: findings, exit status, rewrites that still run."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import copy_example

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "COGKIT_DOCKER_CLI": "/bin/false"}
SKIP_DOCKER = {"COG_SKIP_DOCKER_CHECK": "1"}

OLD_STYLE = """import warnings

from cog import BasePredictor, Input, Path
from cog.types import ExperimentalFeatureWarning
from pydantic import BaseModel, ConfigDict

warnings.filterwarnings("ignore", category=ExperimentalFeatureWarning)


class Output(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    text: str
    score: float


class Predictor(BasePredictor):
    def predict(self, text: str = Input(description="what to echo")) -> Output:
        return Output(text=text.upper(), score=0.5)
"""


def _project(tmp_path: Path, source: str, yaml_extra: str = "") -> Path:
    project = tmp_path / "model"
    project.mkdir()
    (project / "cog.yaml").write_text(
        f'build:\n  python_version: "3.11"\n{yaml_extra}predict: "predict.py:Predictor"\n'
    )
    (project / "predict.py").write_text(source)
    return project


def test_doctor_passes_a_clean_project(tmp_path: Path, cli, docker_engine) -> None:
    project = copy_example("hello-world", tmp_path)
    result = cli("doctor", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == "no issues found"
    for check in ("Config parsing", "Predict reference", "Deprecated imports", "Docker"):
        assert f" ✔ {check}" in result.stderr


def test_doctor_finds_and_fixes_old_cog_code(tmp_path: Path, cli) -> None:
    project = _project(tmp_path, OLD_STYLE, "  python_packages:\n    - packaging\n")
    found = cli("doctor", cwd=project, env=SKIP_DOCKER)
    assert found.returncode == 1
    lines = found.stderr.splitlines()
    assert " ✗ Pydantic BaseModel workaround" in lines and " ✗ Deprecated imports" in lines
    assert any(line.startswith("   predict.py:10 — Output subclasses pydantic.BaseModel") for line in lines)
    assert any(
        line.startswith("   predict.py:4 — ExperimentalFeatureWarning was removed in cog 0.17")
        for line in lines
    )
    assert " ⚠ Deprecated fields" in lines
    assert lines[-1] == 'Found 2 errors, 1 warnings. Run "cogkit doctor --fix" to auto-fix.'
    fixed = cli("doctor", "--fix", cwd=project, env=SKIP_DOCKER)
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stderr.splitlines()[-1] == "Fixed 2 issues. 1 warnings remaining. 0 unfixed errors."
    source = (project / "predict.py").read_text()
    assert (
        "pydantic" not in source and "ExperimentalFeatureWarning" not in source and "warnings" not in source
    )
    assert "from cog import BasePredictor, Input, Path, BaseModel\n" in source
    assert "class Output(BaseModel):\n    text: str" in source
    again = cli("doctor", cwd=project, env=SKIP_DOCKER)
    assert again.returncode == 0 and again.stderr.splitlines()[-1] == "Found 0 errors, 1 warnings."
    # the rewritten model still runs
    ran = cli("predict", "--local", "-i", "text=ok", cwd=project, env=NO_DOCKER)
    assert ran.returncode == 0, ran.stderr
    assert '"text": "OK"' in ran.stdout


def test_doctor_keeps_pydantic_for_other_classes(tmp_path: Path, cli) -> None:
    source = OLD_STYLE.replace("class Predictor", "class Meta(BaseModel):\n    n: int\n\n\nclass Predictor")
    project = _project(tmp_path, source)
    assert cli("doctor", "--fix", cwd=project, env=SKIP_DOCKER).returncode == 0
    fixed = (project / "predict.py").read_text()
    assert "from pydantic import BaseModel\n" in fixed and "BaseModel as CogBaseModel" in fixed
    assert "class Output(CogBaseModel):" in fixed and "class Meta(BaseModel):" in fixed


def test_doctor_reports_bad_references_and_config(tmp_path: Path, cli) -> None:
    project = _project(tmp_path, OLD_STYLE.replace("class Predictor", "class Predictr"))
    wrong_class = cli("doctor", cwd=project, env=SKIP_DOCKER)
    assert wrong_class.returncode == 1
    assert '   cog.yaml — class "Predictor" not found in predict.py; found: Output, Predictr' in (
        wrong_class.stderr.splitlines()
    )
    (project / "cog.yaml").write_text('build:\n  python_version: "3.9"\npredict: "nope.py:Predictor"\n')
    bad = cli("doctor", cwd=project, env=SKIP_DOCKER)
    assert bad.returncode == 1 and " ✗ Config schema" in bad.stderr.splitlines()
    (project / "cog.yaml").write_text("build: [\n")
    broken = cli("doctor", cwd=project, env=SKIP_DOCKER)
    assert broken.returncode == 1 and " ✗ Config parsing" in broken.stderr.splitlines()
    empty = tmp_path / "empty"
    empty.mkdir()
    none = cli("doctor", cwd=empty, env=SKIP_DOCKER)
    assert none.returncode == 1 and "   cog.yaml — cog.yaml not found" in none.stderr.splitlines()


def test_doctor_reports_an_unreachable_docker(tmp_path: Path, cli) -> None:
    project = copy_example("hello-world", tmp_path)
    result = cli("doctor", cwd=project, env=NO_DOCKER)
    assert result.returncode == 1
    assert " ✗ Docker" in result.stderr.splitlines()
