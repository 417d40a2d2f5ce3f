"""Loading valid configs: discovery, defaults, normalisation and what the layer compiler receives."""

from __future__ import annotations

from pathlib import Path

import pytest

from cogkit.config import find_config, load_config
from cogkit.config.requirements import rewrite_for_cuda
from cogkit.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_find_config_walks_up_from_a_subdirectory(tmp_path: Path) -> None:
    config = write(tmp_path / "cog.yaml", "build: {}\n")
    nested = tmp_path / "src" / "deep"
    nested.mkdir(parents=True)
    assert find_config(nested) == config


def test_find_config_explicit_file_wins(tmp_path: Path) -> None:
    write(tmp_path / "cog.yaml", "build: {}\n")
    other = write(tmp_path / "alt" / "gpu.yaml", "build: {gpu: false}\n")
    assert find_config(tmp_path, "alt/gpu.yaml") == other


def test_find_config_missing_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as caught:
        find_config(tmp_path / "empty")
    assert "cog.yaml does not exist" in caught.value.message
    assert caught.value.hint


def test_full_config_normalised(tmp_path: Path) -> None:
    write(tmp_path / "predict.py", "class Predictor: ...\n")
    write(
        tmp_path / "requirements.txt",
        "--extra-index-url https://example.invalid/simple\nnumpy==1.26.4  # pinned\n-r more.txt\n",
    )
    write(tmp_path / "more.txt", "six\n")
    config = load_config(
        write(
            tmp_path / "cog.yaml",
            "build:\n"
            "  python_version: 3.10\n"
            "  python_requirements: requirements.txt\n"
            "  system_packages: [zlib1g, ffmpeg, zlib1g]\n"
            "  run:\n"
            "    - echo one\n"
            "    - command: cat /run/secrets/tok\n"
            "      mounts: [{type: secret, id: tok, target: /run/secrets/tok}]\n"
            "environment:\n  - GREETING=hello world\n  - EMPTY=\n"
            "predict: predict.py:Predictor\n"
            "image: r8.im/me/model\n",
        )
    )
    assert config.python_version == "3.10"
    assert config.system_packages == ["ffmpeg", "zlib1g"]
    assert config.environment == {"GREETING": "hello world", "EMPTY": ""}
    assert config.requirements.options == ["--extra-index-url https://example.invalid/simple"]
    assert config.requirements.requirements == ["numpy==1.26.4", "six"]
    assert [step.command for step in config.run] == ["echo one", "cat /run/secrets/tok"]
    assert config.secret_ids == ["tok"]
    assert config.raw["image"] == "r8.im/me/model"
    assert config.cuda.cuda is None
    assert config.warnings == []


def test_empty_file_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "cog.yaml", ""))
    assert config.python_version == "3.11"
    assert not config.gpu and not config.requirements


def test_cpu_torch_is_rewritten_to_cpu_wheels(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path / "cog.yaml", "build:\n  python_packages: [torch==2.3.1, torchvision==0.18.1, numpy]\n"
        )
    )
    assert config.requirements.render() == "torch==2.3.1\ntorchvision==0.18.1\nnumpy\n"  # as written
    rewritten = rewrite_for_cuda(config.requirements, config.gpu, config.cuda)
    assert rewritten.render() == (
        "--extra-index-url https://download.pytorch.org/whl/cpu\n"
        "torch==2.3.1+cpu\ntorchvision==0.18.1+cpu\nnumpy\n"
    )


def test_gpu_torch_gets_newest_cuda_index(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path / "cog.yaml", "build:\n  gpu: true\n  python_packages: [torch==2.4.1]\n")
    )
    assert (config.cuda.cuda, config.cuda.cudnn) == ("12.4", "9")
    rewritten = rewrite_for_cuda(config.requirements, config.gpu, config.cuda)
    assert rewritten.options == ["--extra-index-url https://download.pytorch.org/whl/cu124"]
    assert rewritten.requirements == ["torch==2.4.1"]


def test_bare_build_key_means_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "cog.yaml", "build:\nenvironment:\n"))
    assert config.python_version == "3.11" and config.environment == {}


def test_run_key_is_the_predictor_reference(tmp_path: Path) -> None:
    """Cog 0.20's `run:` names the predictor; the label keeps it under "predict", as Cog's does."""
    write(tmp_path / "run.py", "class Runner: ...\n")
    text = 'build:\n  python_version: "3.12"\nrun: "run.py:Runner"\n'
    config = load_config(write(tmp_path / "cog.yaml", text))
    assert config.model.predict == "run.py:Runner"
    assert config.raw["predict"] == "run.py:Runner" and "run" not in config.raw
    from cogkit.config.predictor import read_predictor_config

    assert read_predictor_config(str(tmp_path), "predict") == ("run.py:Runner", 1)


@pytest.mark.parametrize(("text", "message"), [
    ('run: "run.py:Runner"\npredict: "run.py:Runner"\n', "only one of run or predict can be set"),
    ('run: "run.py"\n', "'run' must be in the form 'file.py:Name'"),
    ('run: "missing.py:Runner"\n', "run file missing.py does not exist"),
])
def test_run_key_errors(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path / "run.py", "class Runner: ...\n")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path / "cog.yaml", text))
    assert message in caught.value.message and caught.value.message.startswith("cog.yaml:")
    assert caught.value.hint


def test_no_cli_path_needs_pydantic() -> None:
    """pydantic is a test-only dependency: building (config, plan, compile) and every command module
    import and load a real cog.yaml in a process where importing it fails."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys, pkgutil, importlib; sys.modules['pydantic'] = None\n"
        "import cogkit.commands, cogkit.images.build, cogkit.layers.compile\n"
        "for m in pkgutil.iter_modules(cogkit.commands.__path__):\n"
        "    importlib.import_module('cogkit.commands.' + m.name)\n"
        "from cogkit.config import load_config\n"
        f"config = load_config({str(root / 'examples' / 'hello-world' / 'cog.yaml')!r})\n"
        "assert config.model.predict == 'predict.py:Predictor' and config.python_version == '3.11'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
