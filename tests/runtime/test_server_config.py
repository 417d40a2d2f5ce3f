"""cog.yaml reading of the server: the fast scanner must agree with pyyaml or step aside."""

from __future__ import annotations

import pytest
import yaml

from cogkit.config.predictor import _scan_cog_yaml, read_predictor_config
from cogkit.errors import ConfigError

PLAIN = [
    'predict: "predict.py:Predictor"\n',
    "build:\n  gpu: false\n  run:\n    - echo 'predict: no'\n"
    "predict: 'p.py:P'  # comment\nconcurrency:\n  max: 32\n",
    "predict: p.py:P\ntrain: t.py:train\n",
    'predict: "a.py:B"\nconcurrency:\n  # comment\n  max: 4 # four\nimage: x\n',
    "image: r8.im/x\n",
]
UNUSUAL = [
    "concurrency: {max: 3}\npredict: a.py:B\n",
    "x: &a 1\npredict: a.py:B\n",
    "predict:\n  a.py:B\n",
    "concurrency:\n  max: !!str 3\npredict: a.py:B\n",
]


@pytest.mark.parametrize("text", PLAIN)
def test_scanner_agrees_with_yaml(text):
    scanned = _scan_cog_yaml(text)
    assert scanned is not None
    parsed = yaml.safe_load(text)
    for key in ("predict", "train"):
        assert scanned.get(key) == parsed.get(key)
    assert (scanned.get("concurrency") or {}).get("max") == (parsed.get("concurrency") or {}).get("max")


@pytest.mark.parametrize("text", UNUSUAL)
def test_scanner_defers_to_yaml_when_unsure(text):
    assert _scan_cog_yaml(text) is None


def test_read_predictor_config_env_and_file(tmp_path, monkeypatch):
    for var in ("COG_PREDICTOR", "COG_PREDICT_TYPE_STUB", "COG_MAX_CONCURRENCY"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "cog.yaml").write_text("concurrency: {max: 3}\npredict: a.py:B\n")
    assert read_predictor_config(str(tmp_path), "predict") == ("a.py:B", 3)
    monkeypatch.setenv("COG_MAX_CONCURRENCY", "8")
    monkeypatch.setenv("COG_PREDICT_TYPE_STUB", "env.py:P")
    assert read_predictor_config(str(tmp_path), "predict") == ("env.py:P", 8)
    with pytest.raises(ConfigError, match="no `train:`"):
        read_predictor_config(str(tmp_path), "train")
