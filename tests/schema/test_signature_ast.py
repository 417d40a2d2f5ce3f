"""cogkit.schema.signature_ast on its own: signatures read from source text, never imported."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cogkit.schema.signature import MISSING, SchemaError
from cogkit.schema.signature_ast import signature_from_source


def _write(tmp_path: Path, source: str) -> str:
    path = tmp_path / "predict.py"
    path.write_text(textwrap.dedent(source))
    return str(path)


def test_aliases_constants_and_input_settings(tmp_path: Path) -> None:
    path = _write(tmp_path, """
        import typing as t
        from cog import BasePredictor, Input, Path as P
        import torch  # never imported: a missing dependency must not matter

        STEPS = 4
        MODES = ["fast", "slow"]

        class Predictor(BasePredictor):
            def predict(self, image: P = Input(description="an image"),
                        steps: int = Input(default=STEPS, ge=1, le=STEPS * 2),
                        mode: str = Input(default="fast", choices=MODES),
                        seed: t.Optional[int] = None) -> P:
                ...
    """)
    sig = signature_from_source(path, "Predictor")
    fields = {f.name: f for f in sig.inputs}
    assert [f.name for f in sig.inputs] == ["image", "steps", "mode", "seed"]
    assert fields["image"].type.kind == "path" and fields["image"].default is MISSING
    assert fields["image"].description == "an image"
    assert (fields["steps"].default, fields["steps"].ge, fields["steps"].le) == (4, 1, 8)
    assert fields["mode"].choices == ["fast", "slow"]
    seed = fields["seed"]
    assert seed.type.kind == "int" and seed.type.nullable and seed.default is None
    assert sig.output.kind == "path"


def test_functions_iterators_and_train_mode(tmp_path: Path) -> None:
    path = _write(tmp_path, """
        from typing import Iterator, List
        from cog import ConcatenateIterator

        def stream(prompt: str) -> ConcatenateIterator[str]:
            yield prompt

        def many(xs: List[int]) -> Iterator[int]:
            yield from xs

        def train(epochs: int = 3) -> str:
            return "ok"
    """)
    stream = signature_from_source(path, "stream")
    assert stream.output.kind == "iterator" and stream.output.concatenate
    many = signature_from_source(path, "many")
    assert many.inputs[0].type.kind == "list" and many.inputs[0].type.args[0].kind == "int"
    train = signature_from_source(path, "train", mode="train")
    assert train.mode == "train" and train.inputs[0].default == 3


def test_unsupported_types_name_the_parameter(tmp_path: Path) -> None:
    path = _write(tmp_path, """
        from cog import BasePredictor

        class Predictor(BasePredictor):
            def predict(self, data: set[str]) -> str:  # dict inputs are allowed since Cog 0.18
                return ""
    """)
    with pytest.raises(SchemaError, match="data"):
        signature_from_source(path, "Predictor")


def test_a_missing_entry_point_is_a_clear_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "def predict(x: int) -> int:\n    return x\n")
    with pytest.raises(SchemaError, match="Nope"):
        signature_from_source(path, "Nope")
