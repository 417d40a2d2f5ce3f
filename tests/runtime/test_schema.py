"""OpenAPI generation (ast at build time == imported predictor at run time) and input validation."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from cogkit.runtime import compat_path
from cogkit.runtime.worker import Worker
from cogkit.schema.openapi import (
    SchemaError,
    openapi_from_predictor,
    openapi_from_refs,
    openapi_from_source,
)
from cogkit.schema.validation import compile_validator, validate_input

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")

GOOD_REFS = [
    ("inputs.py:Predictor", "predict"),
    ("secret.py:Predictor", "predict"),
    ("capture.py:Predictor", "predict"),
    ("environment.py:Predictor", "predict"),
    ("weights.py:WeightsPath", "predict"),
    ("weights.py:WeightsStr", "predict"),
    ("weights.py:WeightsFile", "predict"),
    ("metrics.py:SyncMetrics", "predict"),
    ("metrics.py:AsyncMetrics", "predict"),
    ("sleepers.py:SyncSleep", "predict"),
    ("sleepers.py:AsyncSleep", "predict"),
    ("sleepers.py:SyncFlood", "predict"),
    ("sleepers.py:AsyncFlood", "predict"),
    ("crashes.py:raise_in_predict", "predict"),
    ("crashes.py:exit_in_predict", "predict"),
    ("crashes.py:async_exit_in_predict", "predict"),
    ("train.py:train", "train"),
    ("setups.py:AsyncSetupSyncPredict", "predict"),
    ("setups.py:SetupUsesAsyncioRun", "predict"),
    ("setups.py:NoSetup", "predict"),
    ("setups.py:Runner", "predict"),
    ("today_types.py:Inputs", "predict"),
    ("today_types.py:Outputs", "predict"),
    ("today_types.py:Counts", "predict"),
] + [
    (f"outputs.py:{name}", "predict")
    for name in (
        "out_str", "out_int", "out_float", "out_bool", "out_path", "out_file", "out_list", "out_list_paths",
        "out_dict", "out_any", "out_anything", "out_model", "out_model_list", "out_iter", "out_iter_paths",
        "out_concat", "out_async_iter", "out_async_str", "out_wrong", "out_generator_untyped",
        "out_async_concat", "out_path_as_str", "out_list_wrong", "out_none_for_str", "out_optional_none",
        "out_iter_wrong", "out_model_file",
    )
]  # fmt: skip


def import_fixture(filename: str, directory: str = FIXTURES) -> Any:
    """Import a predictor file in-process (compat `cog` first on sys.path), under a unique name."""
    sys.path.insert(0, compat_path())
    try:
        name = f"fixture_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(name, os.path.join(directory, filename))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(compat_path())


def runtime_schema(ref: str, mode: str) -> dict[str, Any]:
    filename, name = ref.split(":")
    return openapi_from_predictor(getattr(import_fixture(filename), name), mode)


def build_schema(ref: str, mode: str) -> dict[str, Any]:
    filename, name = ref.split(":")
    return openapi_from_source(os.path.join(FIXTURES, filename), name, mode)


@pytest.mark.parametrize(("ref", "mode"), GOOD_REFS)
def test_ast_schema_equals_runtime_schema(ref: str, mode: str) -> None:
    assert build_schema(ref, mode) == runtime_schema(ref, mode)


def test_worker_serves_the_same_schema_as_the_build() -> None:
    """The document the child sends (served at /openapi.json) equals the build-time label."""

    async def schemas() -> list[tuple[str, dict[str, Any] | None]]:
        found = []
        for ref, mode in GOOD_REFS:
            worker = Worker(ref, mode=mode, cwd=FIXTURES)
            await worker.start()
            found.append((ref, worker.schema))
            await worker.stop()
        return found

    for ref, schema in asyncio.run(schemas()):
        mode = dict(GOOD_REFS)[ref]
        assert schema == build_schema(ref, mode), ref


def test_input_component_shape() -> None:
    doc = build_schema("inputs.py:Predictor", "predict")
    schemas = doc["components"]["schemas"]
    props = schemas["Input"]["properties"]
    assert schemas["Input"]["required"] == ["text", "image"]
    assert [props[name]["x-order"] for name in props] == list(range(len(props)))
    assert props["text"] == {
        "type": "string", "title": "Text", "description": "Some text", "minLength": 2, "maxLength": 10,
        "x-order": 0,
    }  # fmt: skip
    assert props["count"] == {
        "type": "integer", "title": "Count", "default": 3, "minimum": 1, "maximum": 10, "x-order": 1,
    }  # fmt: skip
    assert props["ratio"]["type"] == "number" and props["flag"]["type"] == "boolean"
    assert props["image"]["format"] == "uri" and props["image"]["type"] == "string"
    assert props["doc"]["format"] == "uri" and props["doc"]["nullable"] is True
    assert props["token"] == {
        "type": "string", "format": "password", "writeOnly": True, "x-cog-secret": True,
        "title": "Token", "default": "**********", "x-order": 6,
    }  # fmt: skip
    assert props["numbers"]["items"] == {"type": "integer"} and props["numbers"]["default"] == [1, 2]
    assert props["paths"]["items"] == {"type": "string", "format": "uri"}
    assert props["maybe"]["nullable"] is True and props["maybe"]["default"] is None
    assert props["style"]["allOf"] == [{"$ref": "#/components/schemas/style"}]
    enumeration = {"description": "An enumeration."}
    assert schemas["style"] == {"type": "string", "enum": ["a", "b"], "title": "style", **enumeration}
    assert schemas["size"]["enum"] == ["small", "large"]
    assert schemas["level"] == {"type": "integer", "enum": [1, 2, 3], "title": "level", **enumeration}
    assert props["code"]["pattern"] == "^[a-z]+[0-9]$"
    assert props["old"]["deprecated"] is True
    assert props["either"]["anyOf"] == [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]
    assert props["newer"]["nullable"] is True
    assert props["pair"]["default"] == [3, 4]  # a tuple default renders as a JSON array
    for component in ("Output", "PredictionRequest", "PredictionResponse", "Status", "WebhookEvent"):
        assert component in schemas
    assert schemas["Status"]["enum"] == ["starting", "processing", "succeeded", "canceled", "failed"]
    assert set(doc["paths"]) == {
        "/", "/health-check", "/shutdown", "/predictions", "/predictions/{prediction_id}",
        "/predictions/{prediction_id}/cancel",
    }  # fmt: skip


def test_output_shapes() -> None:
    def output(name: str) -> dict[str, Any]:
        return build_schema(f"outputs.py:{name}", "predict")["components"]["schemas"]["Output"]

    assert output("out_str") == {"type": "string", "title": "Output"}
    assert output("out_path") == {"type": "string", "format": "uri", "title": "Output"}
    assert output("out_file") == {"type": "string", "format": "uri", "title": "Output"}
    assert output("out_list") == {"type": "array", "items": {"type": "integer"}, "title": "Output"}
    assert output("out_dict") == {"type": "object", "title": "Output"}
    assert output("out_any") == {"title": "Output"}
    assert output("out_iter") == {
        "type": "array", "items": {"type": "string"}, "x-cog-array-type": "iterator", "title": "Output",
    }  # fmt: skip
    assert output("out_concat") == {
        "type": "array", "items": {"type": "string"}, "x-cog-array-type": "iterator",
        "x-cog-array-display": "concatenate", "title": "Output",
    }  # fmt: skip
    assert output("out_async_iter")["x-cog-array-type"] == "iterator"
    assert output("out_async_concat")["x-cog-array-display"] == "concatenate"
    model = output("out_model")
    assert model["type"] == "object" and model["required"] == ["text", "score"]
    assert model["properties"]["image"] == {
        "type": "string", "format": "uri", "nullable": True, "title": "Image",
    }  # fmt: skip
    nested = output("out_model_list")
    assert nested["items"]["items"]["properties"]["tags"] == {
        "type": "array", "items": {"type": "string"}, "title": "Tags",
    }  # fmt: skip


def test_train_schema_uses_training_components_and_paths() -> None:
    doc = build_schema("train.py:train", "train")
    schemas = doc["components"]["schemas"]
    assert {"TrainingInput", "TrainingOutput", "TrainingRequest", "TrainingResponse"} <= set(schemas)
    assert "Input" not in schemas
    assert schemas["TrainingOutput"]["properties"]["weights"]["format"] == "uri"
    assert "/trainings" in doc["paths"] and "/trainings/{training_id}/cancel" in doc["paths"]
    combined = openapi_from_refs(predict="outputs.py:out_str", train="train.py:train", root=FIXTURES)
    assert {"Input", "TrainingInput", "Output", "TrainingOutput"} <= set(combined["components"]["schemas"])
    assert "/predictions" in combined["paths"] and "/trainings" in combined["paths"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ModelInput", "parameter `config`"),
        ("Untyped", "No input type provided for parameter `name`"),
        ("SetInput", "parameter `options`"),
        ("Kwargs", "**kwargs"),
        ("UnsupportedOutput", "the return type of predict()"),
    ],
)
def test_unsupported_types_name_the_parameter(name: str, message: str) -> None:
    with pytest.raises(SchemaError) as built:
        build_schema(f"bad_signatures.py:{name}", "predict")
    with pytest.raises(SchemaError) as at_runtime:
        runtime_schema(f"bad_signatures.py:{name}", "predict")
    assert message in built.value.message
    assert message in at_runtime.value.message


def test_build_time_never_imports_user_code(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text(textwrap.dedent("""
        from cog import BaseModel

        class Result(BaseModel):
            caption: str
            score: float | None
    """))
    (tmp_path / "predict.py").write_text(textwrap.dedent("""
        from __future__ import annotations
        import typing as t
        import torch_that_is_not_installed  # would fail on import
        import cog
        from cog import Input as In
        from .helpers import Result

        raise SystemExit("importing this module is a bug")

        MODES = ("fast", "slow")

        class Predictor(cog.BasePredictor):
            def predict(
                self,
                prompt: "str" = In(description="what to draw"),
                mode: str = In(default="fast", choices=list(MODES)),
                seed: t.Optional[int] = In(default=None, ge=-1),
                image: cog.Path | None = None,
            ) -> Result:
                return Result(caption=prompt, score=None)
    """))
    doc = openapi_from_source(str(tmp_path / "predict.py"), "Predictor")
    props = doc["components"]["schemas"]["Input"]["properties"]
    assert props["prompt"]["description"] == "what to draw"
    assert doc["components"]["schemas"]["mode"]["enum"] == ["fast", "slow"]
    assert props["seed"] == {"type": "integer", "nullable": True, "title": "Seed", "default": None,
                             "minimum": -1, "x-order": 2}
    assert props["image"]["format"] == "uri"
    output = doc["components"]["schemas"]["Output"]
    assert output["required"] == ["caption"] and output["properties"]["score"]["nullable"] is True


def test_unevaluable_choices_are_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "predict.py").write_text(textwrap.dedent("""
        import random
        from cog import BasePredictor, Input

        class Predictor(BasePredictor):
            def predict(self, pick: str = Input(choices=[str(random.random())])) -> str:
                return pick
    """))
    with pytest.raises(SchemaError) as err:
        openapi_from_source(str(tmp_path / "predict.py"), "Predictor")
    assert "parameter `pick`" in err.value.message


# --- validation ---------------------------------------------------------------------------------

SCHEMA = openapi_from_source(os.path.join(FIXTURES, "inputs.py"), "Predictor")


def test_valid_input_is_coerced_and_unknown_keys_reported() -> None:
    result = validate_input(SCHEMA, {
        "text": "hello", "image": "https://example.com/a.png", "count": "4", "ratio": 1, "flag": "true",
        "numbers": ["1", 2.0], "maybe": None, "either": 5, "unknown": 1, "other": 2,
    })  # fmt: skip
    assert result.ok, result.errors
    assert result.values == {
        "text": "hello", "image": "https://example.com/a.png", "count": 4, "ratio": 1, "flag": True,
        "numbers": [1, 2], "maybe": None, "either": 5,
    }  # fmt: skip
    assert result.ignored == ["unknown", "other"]
    assert "size" not in result.values  # defaults are applied by the predictor process, not here


def _errors(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result = validate_input(SCHEMA, payload)
    assert not result.ok
    return {"/".join(str(p) for p in e["loc"][2:]): e for e in result.errors}


def test_every_bad_field_is_reported_in_cogs_detail_shape() -> None:
    base = {"text": "hello", "image": "data:,x"}
    errors = _errors({
        **base, "text": "x", "count": 11, "ratio": "lots", "flag": "maybe", "numbers": [1, "two"],
        "style": "c", "level": 4, "code": "ABC", "maybe": 1.5, "size": "medium",
    })  # fmt: skip
    assert errors["text"] == {
        "type": "string_too_short", "loc": ["body", "input", "text"],
        "msg": "String should have at least 2 characters",
        "input": "x", "ctx": {"min_length": 2},
    }  # fmt: skip
    assert errors["count"]["type"] == "less_than_equal"
    assert errors["count"]["msg"] == "Input should be less than or equal to 10"
    assert errors["ratio"]["type"] == "float_parsing"
    assert errors["flag"]["type"] == "bool_parsing"
    assert errors["numbers/1"]["type"] == "int_parsing"
    assert errors["style"]["type"] == "enum" and errors["style"]["msg"] == "Input should be 'a' or 'b'"
    assert errors["level"]["msg"] == "Input should be 1, 2 or 3"
    assert errors["code"]["type"] == "string_pattern_mismatch"
    assert errors["maybe"]["type"] == "int_from_float"
    assert errors["size"]["msg"] == "Input should be 'small' or 'large'"
    assert len(errors) == 10


def test_missing_required_and_wrong_container() -> None:
    errors = _errors({"text": 5})
    assert errors["text"]["type"] == "string_type"
    assert errors["image"] == {"type": "missing", "loc": ["body", "input", "image"], "msg": "Field required",
                               "input": {"text": 5}}
    result = validate_input(SCHEMA, ["not", "a", "dict"])
    assert result.errors[0]["loc"] == ["body", "input"]
    empty = validate_input(openapi_from_source(os.path.join(FIXTURES, "outputs.py"), "out_int"), None)
    assert empty.ok and empty.values == {}


def test_secret_input_validates_as_string_and_non_null_rejects_none() -> None:
    assert validate_input(SCHEMA, {"text": "ok", "image": "x", "token": "abc"}).values["token"] == "abc"
    errors = _errors({"text": None, "image": "x"})
    assert errors["text"]["type"] == "string_type"


def test_star_imports_resolve(tmp_path: Path) -> None:
    (tmp_path / "predict.py").write_text(textwrap.dedent("""
        from typing import *
        from cog import *

        class Out(BaseModel):
            file: Path

        class Predictor(BasePredictor):
            def predict(self, image: Path = Input(description="in"), n: Optional[int] = None,
                        key: Secret = Input()) -> Iterator[Out]:
                yield Out(file=image)
    """))
    built = openapi_from_source(str(tmp_path / "predict.py"), "Predictor")
    module = import_fixture("predict.py", str(tmp_path))
    assert built == openapi_from_predictor(module.Predictor)
    props = built["components"]["schemas"]["Input"]["properties"]
    assert props["image"]["format"] == "uri" and props["key"]["x-cog-secret"] is True


def test_secret_inputs_can_be_redacted_for_echoing() -> None:
    validator = compile_validator(SCHEMA)
    assert validator.secret_fields == {"token"}
    values = validate_input(SCHEMA, {"text": "ok", "image": "x", "token": "hunter2"}).values
    assert validator.redact(values)["token"] == "**********"
    assert values["token"] == "hunter2"  # the predictor still gets the real value
    plain = compile_validator(openapi_from_source(os.path.join(FIXTURES, "outputs.py"), "out_str"))
    payload = {"text": "x"}
    assert plain.redact(payload) is payload
