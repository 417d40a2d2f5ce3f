"""Every cog.yaml mistake a user can make gets one line (with position) and a hint: snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from cogkit.config import load_config
from cogkit.errors import ConfigError

PREDICT = (
    "from cog import BasePredictor\n\n"
    "class Predictor(BasePredictor):\n    def predict(self) -> str:\n        return 'hi'\n"
)

CASES: dict[str, str] = {
    "unknown_top_level_key": "buidl:\n  python_version: '3.11'\n",
    "unknown_build_key": "build:\n  python_version: '3.11'\n  system_package:\n    - ffmpeg\n",
    "unknown_run_key": "build:\n  run:\n    - comand: echo hi\n",
    "unknown_mount_key": (
        "build:\n  run:\n    - command: echo hi\n      mounts:\n"
        "        - type: secret\n          id: tok\n"
        "          target: /run/secrets/tok\n          mode: 0400\n"
    ),
    "weights_without_model": "weights:\n  - name: base\n",
    "model_with_tag": "model: 127.0.0.1:5000/me/m:v1\n",
    "yaml_syntax_error": "build:\n  gpu: true\n   python_version: '3.11'\n",
    "duplicate_key": "build:\n  gpu: true\n  gpu: false\n",
    "not_a_mapping": "- build\n",
    "gpu_not_bool": "build:\n  gpu: 'yes'\n",
    "system_packages_not_list": "build:\n  system_packages: ffmpeg\n",
    "system_package_bad_name": "build:\n  system_packages:\n    - ffmpeg; rm -rf /\n",
    "run_item_wrong_type": "build:\n  run:\n    - 42\n",
    "run_newline": "build:\n  run:\n    - |\n      apt-get update\n      apt-get install -y curl\n",
    "run_mount_not_secret": (
        "build:\n  run:\n    - command: echo hi\n      mounts:\n"
        "        - type: ssh\n          id: key\n          target: /root/.ssh\n"
    ),
    "run_mount_missing_target": (
        "build:\n  run:\n    - command: echo hi\n      mounts:\n        - type: secret\n          id: tok\n"
    ),
    "run_mount_relative_target": (
        "build:\n  run:\n    - command: cat tok\n      mounts:\n"
        "        - type: secret\n          id: tok\n          target: run/tok\n"
    ),
    "packages_and_requirements": (
        "build:\n  python_packages:\n    - numpy\n  python_requirements: requirements.txt\n"
    ),
    "requirements_file_missing": "build:\n  python_requirements: requirements-gpu.txt\n",
    "python_version_format": "build:\n  python_version: '3'\n",
    "python_version_too_old": "build:\n  python_version: '3.8'\n",
    "python_version_too_new": "build:\n  python_version: '3.99'\n",
    "python_version_float_310": "build:\n  python_version: 3.10\nconcurrency:\n  max: 2\n",
    "concurrency_needs_311": "build:\n  python_version: '3.10'\nconcurrency:\n  max: 4\n",
    "concurrency_zero": "concurrency:\n  max: 0\n",
    "cuda_without_minor": "build:\n  gpu: true\n  cuda: '12'\n",
    "cuda_too_old": "build:\n  gpu: true\n  cuda: '10.2'\n",
    "cuda_unknown": "build:\n  gpu: true\n  cuda: '11.9'\n",
    "cudnn_incompatible": "build:\n  gpu: true\n  cuda: '12.1'\n  cudnn: '9'\n",
    "env_not_key_value": "environment:\n  - JUST_A_NAME\n",
    "env_denied_exact": "environment:\n  - PATH=/opt/bin\n",
    "env_denied_prefix": "environment:\n  - CUDA_VISIBLE_DEVICES=0\n",
    "env_duplicate": "environment:\n  - MODEL=small\n  - MODEL=large\n",
    "predict_bad_form": "predict: predict.py\n",
    "predict_file_missing": "predict: predictor.py:Predictor\n",
    "train_bad_name": "train: train.py:1train\n",
    "missing_command": "build:\n  run:\n    - mounts: []\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_error_message(tmp_path: Path, name: str, snapshot) -> None:
    (tmp_path / "predict.py").write_text(PREDICT)
    (tmp_path / "requirements.txt").write_text("numpy\n")
    (tmp_path / "cog.yaml").write_text(CASES[name])
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "cog.yaml")
    rendered = caught.value.render()
    assert "Traceback" not in rendered
    assert rendered.count("\n") == 1, "one line of error plus one line of hint"
    snapshot(name, rendered)


WARNING_CASES: dict[str, str] = {
    "unknown_torch_version": "build:\n  gpu: true\n  python_packages:\n    - torch==9.9.0\n",
    "deprecated_fields": "build:\n  python_packages: [numpy]\n  pre_install: ['echo hi']\n  fast: true\n",
    "cuda_without_gpu": "build:\n  cuda: '12.1'\n",
}


@pytest.mark.parametrize("name", sorted(WARNING_CASES))
def test_config_warnings(tmp_path: Path, name: str, snapshot) -> None:
    (tmp_path / "cog.yaml").write_text(WARNING_CASES[name])
    config = load_config(tmp_path / "cog.yaml")
    assert config.warnings
    snapshot(f"warning_{name}", "\n".join(config.warnings))
