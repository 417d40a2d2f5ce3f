"""-i parsing, schema-driven coercion and validation (pure logic: the schema is a Cog-shaped dict)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest

from cogkit.errors import InputError
from cogkit.model.inputs import (
    coerce_inputs,
    describe_inputs,
    file_to_data_url,
    load_json_inputs,
    parse_input_flags,
    validate_inputs,
)

SCHEMA = {
    "openapi": "3.0.2",
    "components": {
        "schemas": {
            "Input": {
                "type": "object",
                "required": ["prompt"],
                "properties": {
                    "prompt": {"type": "string", "x-order": 0, "maxLength": 20},
                    "steps": {"type": "integer", "x-order": 1, "minimum": 1, "maximum": 50, "default": 10},
                    "scale": {"type": "number", "x-order": 2},
                    "fast": {"type": "boolean", "x-order": 3},
                    "tags": {"type": "array", "items": {"type": "string"}, "x-order": 4},
                    "sizes": {"type": "array", "items": {"type": "integer"}, "x-order": 5},
                    "meta": {"type": "object", "x-order": 6},
                    "image": {"type": "string", "format": "uri", "x-order": 7},
                    "images": {"type": "array", "items": {"type": "string", "format": "uri"}, "x-order": 8},
                    "mode": {"allOf": [{"$ref": "#/components/schemas/mode"}], "x-order": 9},
                    "seed": {"anyOf": [{"type": "integer"}, {"type": "null"}], "x-order": 10},
                    "either": {
                        "anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}],
                        "x-order": 11,
                    },
                },
            },
            "mode": {"type": "string", "enum": ["fast", "slow"], "title": "mode"},
        }
    },
}


def test_parse_flags_builds_lists_for_repeats_and_strips_quotes() -> None:
    raw = parse_input_flags(["a=1", 'b="two words"', "a=2", "c=x=y", "a=3"])
    assert raw == {"a": ["1", "2", "3"], "b": "two words", "c": "x=y"}


@pytest.mark.parametrize("flag", ["prompt", "=value", ""])
def test_parse_flag_without_name_or_equals_is_rejected(flag: str) -> None:
    with pytest.raises(InputError, match="expected name=value"):
        parse_input_flags([flag])


def test_coercion_follows_the_schema(tmp_path: Path) -> None:
    (tmp_path / "in.png").write_bytes(b"\x89PNG fake")
    raw = parse_input_flags(
        [
            "prompt=hello",
            "steps=7",
            "scale=2",
            "fast=yes",
            "tags=one",
            "sizes=1",
            "sizes=2",
            'meta={"k": [1, 2]}',
            "image=@in.png",
            "images=@in.png",
            "images=@in.png",
            "mode=slow",
            "seed=42",
            "either=5",
        ]
    )
    out = coerce_inputs(raw, SCHEMA, base_dir=tmp_path)
    assert out["prompt"] == "hello"
    assert out["steps"] == 7 and isinstance(out["steps"], int)
    assert out["scale"] == 2
    assert out["fast"] is True
    assert out["tags"] == ["one"]
    assert out["sizes"] == [1, 2]
    assert out["meta"] == {"k": [1, 2]}
    assert out["image"].startswith("data:image/png;base64,")
    assert base64.b64decode(out["image"].split(",", 1)[1]) == b"\x89PNG fake"
    assert len(out["images"]) == 2 and all(v.startswith("data:image/png") for v in out["images"])
    assert out["mode"] == "slow"
    assert out["seed"] == 42
    assert out["either"] == 5
    validate_inputs(out, SCHEMA)


def test_float_and_json_array_forms() -> None:
    out = coerce_inputs({"prompt": "p", "scale": "0.25", "sizes": "[3, 4]", "either": "[1,2]"}, SCHEMA)
    assert out["scale"] == 0.25
    assert out["sizes"] == [3, 4]
    assert out["either"] == [1, 2]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("steps", "many", "'steps' must be an integer, got 'many'"),
        ("scale", "big", "'scale' must be a number"),
        ("fast", "maybe", "'fast' must be true or false"),
        ("meta", "[1]", "'meta' must be a JSON object"),
        ("sizes", "x", "'sizes[0]' must be an integer"),
    ],
)
def test_bad_values_name_the_input(name: str, value: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        coerce_inputs({name: value}, SCHEMA)


def test_repeating_a_scalar_input_is_an_error() -> None:
    with pytest.raises(InputError, match="takes one value"):
        coerce_inputs({"steps": ["1", "2"]}, SCHEMA)


def test_unknown_input_lists_valid_names_in_order() -> None:
    with pytest.raises(InputError) as info:
        validate_inputs({"prompt": "x", "stepz": 3}, SCHEMA)
    assert info.value.message == (
        'unknown input "stepz"; valid inputs are: prompt, steps, scale, fast, tags, sizes, meta, image, '
        "images, mode, seed, either"
    )
    with pytest.raises(InputError) as several:
        validate_inputs({"prompt": "x", "a": 1, "b": 2}, SCHEMA)
    assert several.value.message.startswith('unknown inputs "a", "b"; valid inputs are: prompt, steps')


def test_missing_required_and_constraints() -> None:
    with pytest.raises(InputError, match="missing required input: prompt"):
        validate_inputs({}, SCHEMA)
    with pytest.raises(InputError, match="must be at most 50, got 99"):
        validate_inputs({"prompt": "x", "steps": 99}, SCHEMA)
    with pytest.raises(InputError, match='must be one of "fast", "slow"; got "medium"'):
        validate_inputs({"prompt": "x", "mode": "medium"}, SCHEMA)
    with pytest.raises(InputError, match="at most 20 characters"):
        validate_inputs({"prompt": "x" * 21}, SCHEMA)
    with pytest.raises(InputError, match="'steps' must be integer"):
        validate_inputs({"prompt": "x", "steps": "7"}, SCHEMA)
    validate_inputs({"prompt": "x", "seed": None}, SCHEMA)


def test_without_schema_values_stay_strings_and_files_become_data_urls(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hi")
    out = coerce_inputs({"n": "3", "f": "@a.txt"}, None, base_dir=tmp_path)
    assert out == {"n": "3", "f": "data:text/plain;base64," + base64.b64encode(b"hi").decode()}
    validate_inputs(out, None)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found: nope.png"):
        coerce_inputs({"image": "@nope.png"}, SCHEMA, base_dir=tmp_path)


def test_json_inputs_inline_file_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "in.json").write_text(json.dumps({"input": {"prompt": "from file"}}))
    (tmp_path / "x.txt").write_text("x")
    assert load_json_inputs('{"prompt": "inline"}') == {"prompt": "inline"}
    assert load_json_inputs(f"@{tmp_path / 'in.json'}") == {"prompt": "from file"}
    got = load_json_inputs("@-", stdin=io.StringIO('{"image": "@x.txt"}'), base_dir=tmp_path)
    assert got["image"] == file_to_data_url("x.txt", tmp_path)
    with pytest.raises(InputError, match="not valid JSON"):
        load_json_inputs("{nope")
    with pytest.raises(InputError, match="must be a JSON object"):
        load_json_inputs("[1]")


def test_describe_inputs_lists_types_and_defaults() -> None:
    text = describe_inputs(SCHEMA)
    assert "  prompt: string" in text
    assert "  steps: integer (default 10)" in text
    assert "  images: list of file" in text


def test_train_mode_uses_training_input_only() -> None:
    both = {"components": {"schemas": {
        "Input": {"type": "object", "properties": {"x": {"type": "integer"}}},
        "TrainingInput": {"type": "object", "properties": {"epochs": {"type": "integer"}}},
    }}}  # fmt: skip
    validate_inputs({"epochs": 3}, both, mode="train")
    with pytest.raises(InputError, match="valid inputs are: epochs"):
        validate_inputs({"x": 3}, both, mode="train")
    predict_only = {"components": {"schemas": {"Input": both["components"]["schemas"]["Input"]}}}
    validate_inputs({"epochs": 3}, predict_only, mode="train")  # unknown here: the server decides


def test_urls_in_string_inputs_stay_strings() -> None:
    """Cog regression #2868: a URL typed into a `str` input must not turn into a file."""
    out = coerce_inputs(
        {"prompt": "https://example.com/cat.png", "image": "https://example.com/cat.png"}, SCHEMA
    )
    assert out == {"prompt": "https://example.com/cat.png", "image": "https://example.com/cat.png"}
