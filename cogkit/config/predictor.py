"""What a running model reads from cog.yaml: the predictor reference and concurrency.max.

The one reader of cog.yaml for the runtime (the HTTP server and the queue worker, in the image
and under `--local`). It must not import the build's config model (Structs, rules, positions):
it runs inside images, which ship only this file of cogkit/config, and on the start-up path,
where pyyaml alone costs ~12 ms.
So plainly written keys are scanned, and anything unusual falls back to pyyaml. Environment
variables (set by the image from cog.yaml at build time) win over the file.
"""

from __future__ import annotations

import os
import re
from typing import Any

_TOP_SCALAR = r"^{key}:[ \t]*(?:\"([^\"\n]*)\"|'([^'\n]*)'|([^\s'\"#][^#\n]*?))[ \t]*(?:#.*)?$"


def _scan_cog_yaml(text: str) -> dict[str, Any] | None:
    """run/predict/train/concurrency.max from a plainly written cog.yaml, or None if it is not plain."""
    out: dict[str, Any] = {}
    for key in ("run", "predict", "train"):
        if re.search(rf"^{key}\s*:", text, re.M):
            m = re.search(_TOP_SCALAR.format(key=key), text, re.M)
            if m is None:
                return None
            out[key] = next(g for g in m.groups() if g is not None).strip()
    block = re.search(r"^concurrency[ \t]*:[ \t]*(#.*)?\n((?:[ \t]+.*\n?|[ \t]*\n)*)", text, re.M)
    if block:
        m = re.search(r"^[ \t]+max[ \t]*:[ \t]*(\d+)[ \t]*(?:#.*)?$", block.group(2), re.M)
        if m is None and re.search(r"^[ \t]+max[ \t]*:", block.group(2), re.M):
            return None
        out["concurrency"] = {"max": int(m.group(1))} if m else {}
    elif re.search(r"^concurrency\s*:", text, re.M):
        return None  # flow style or something else: let pyyaml decide
    if "&" in text or "<<:" in text:
        return None  # anchors/merge keys could redefine what we scanned
    return out


def _parse(path: str, text: str) -> dict[str, Any]:
    from cogkit.errors import ConfigError

    data = _scan_cog_yaml(text)
    if data is not None:
        return data
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse {path}: {exc}", "fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must be a mapping of keys to values")
    return data


def read_predictor_config(cwd: str, mode: str) -> tuple[str, int]:
    """(predictor ref, concurrency) for `mode` ("predict"/"train") from the environment or ./cog.yaml."""
    from cogkit.errors import ConfigError

    key = "predict" if mode == "predict" else "train"
    ref = os.environ.get("COG_PREDICTOR" if mode == "predict" else "COG_TRAINER") or os.environ.get(
        "COG_PREDICT_TYPE_STUB" if mode == "predict" else "COG_TRAIN_TYPE_STUB")
    concurrency: Any = os.environ.get("COG_MAX_CONCURRENCY")
    path = os.path.join(cwd, "cog.yaml")
    if (not ref or concurrency is None) and os.path.exists(path):
        with open(path) as fh:
            data = _parse(path, fh.read())
        ref = ref or data.get(key) or (data.get("run") if mode == "predict" else None)
        if concurrency is None:
            concurrency = (data.get("concurrency") or {}).get("max")
    if not ref:
        what, example = ("run", "run.py:Runner") if mode == "predict" else ("train", "train.py:train")
        raise ConfigError(f"no `{what}:` predictor configured",
                          f"add `{what}: \"{example}\"` to cog.yaml, or set COG_PREDICTOR")
    try:
        conc = int(concurrency or 1)
    except (TypeError, ValueError):
        raise ConfigError(f"concurrency.max must be an integer, got {concurrency!r}") from None
    return str(ref), max(1, conc)
