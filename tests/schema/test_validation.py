"""cogkit.schema.validation and refs on their own: hand-written documents, no predictor, no server."""

from __future__ import annotations

from typing import Any

from cogkit.schema import refs
from cogkit.schema.validation import SECRET_MASK, compile_validator, validate_input


def _doc(props: dict[str, Any], required: list[str] | None = None, **components: Any) -> dict[str, Any]:
    schema = {"Input": {"type": "object", "properties": props, "required": required or []}, **components}
    return {"components": {"schemas": schema}}


DOC = _doc(
    {
        "n": {"type": "integer", "minimum": 1, "maximum": 5},
        "x": {"type": "number"},
        "flag": {"type": "boolean"},
        "text": {"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[a-z]+$"},
        "color": {"allOf": [{"$ref": "#/components/schemas/color"}]},
        "tags": {"type": "array", "items": {"type": "integer", "maximum": 9}},
        "maybe": {"type": "integer", "nullable": True},
        "either": {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]},
        "token": {"type": "string", "format": "password", "x-cog-secret": True},
    },
    required=["n"],
    color={"title": "color", "enum": ["red", "blue"], "type": "string"},
)


def test_the_server_coerces_like_cog_and_reports_every_field() -> None:
    ok = validate_input(DOC, {"n": "3", "x": "0.5", "flag": "yes", "color": "red", "tags": ["1", 2]})
    assert ok.ok and ok.values == {"n": 3, "x": 0.5, "flag": True, "color": "red", "tags": [1, 2]}
    bad = validate_input(DOC, {"n": 9, "text": "ABCDEF", "color": "green", "tags": [1, 10]})
    kinds = {tuple(e["loc"][2:]): e["type"] for e in bad.errors}
    assert kinds == {("n",): "less_than_equal", ("text",): "string_too_long", ("color",): "enum",
                     ("tags", 1): "less_than_equal"}


def test_missing_required_and_unknown_keys() -> None:
    result = validate_input(DOC, {"stepz": 1})
    assert result.ignored == ["stepz"] and "stepz" not in result.values
    assert [e["loc"] for e in result.errors if e["type"] == "missing"] == [["body", "input", "n"]]
    assert validate_input(DOC, "hello").errors[0]["type"] == "model_attributes_type"


def test_strict_mode_takes_typed_values_only() -> None:
    lax, strict = validate_input(DOC, {"n": "3"}), validate_input(DOC, {"n": "3"}, strict=True)
    assert lax.ok and lax.values["n"] == 3
    assert [e["type"] for e in strict.errors] == ["int_type"]
    assert validate_input(DOC, {"n": True}, strict=True).errors[0]["type"] == "int_type"
    assert validate_input(DOC, {"n": 2, "flag": 1}, strict=True).errors[0]["type"] == "bool_type"
    assert validate_input(DOC, {"n": 2, "x": 1}, strict=True).ok  # an int is a number


def test_nullable_and_unions() -> None:
    assert validate_input(DOC, {"n": 1, "maybe": None}).ok
    assert validate_input(DOC, {"n": 1, "either": 3}).values["either"] == 3
    assert validate_input(DOC, {"n": 1, "either": [3, 4]}).values["either"] == [3, 4]
    # Cog 0.21 takes a union's JSON value as it is: no member accepts "4" or "5" without converting
    assert not validate_input(DOC, {"n": 1, "either": [3, "4"]}).ok
    assert not validate_input(DOC, {"n": 1, "either": "5"}).ok
    assert not validate_input(DOC, {"n": 1, "either": "x"}).ok


def test_secrets_are_masked_for_echoing() -> None:
    validator = compile_validator(DOC)
    assert validator.secret_fields == {"token"}
    assert validator.redact({"n": 1, "token": "hunter2"}) == {"n": 1, "token": SECRET_MASK}
    plain = {"n": 1}
    assert compile_validator(_doc({"n": {"type": "integer"}})).redact(plain) is plain


def test_validators_are_compiled_once_per_document() -> None:
    assert compile_validator(DOC) is compile_validator(DOC)
    assert compile_validator(DOC) is not compile_validator(DOC, strict=True)


def test_refs_resolve_allof_and_ref_with_local_keys_winning() -> None:
    doc = {"components": {"schemas": {
        "Base": {"type": "string", "description": "base"},
        "Enum": {"allOf": [{"$ref": "#/components/schemas/Base"}], "enum": ["a"]},
    }}}
    node = {"$ref": "#/components/schemas/Enum", "description": "mine"}
    assert refs.resolve(node, doc) == {"description": "mine", "enum": ["a"], "type": "string"}
    nested = {"type": "array", "items": {"anyOf": [{"$ref": "#/components/schemas/Base"}]}}
    assert refs.resolve(nested, doc)["items"]["anyOf"][0]["type"] == "string"


def test_a_self_referencing_document_does_not_loop() -> None:
    doc = {"components": {"schemas": {"Loop": {"$ref": "#/components/schemas/Loop", "type": "string"}}}}
    assert refs.resolve({"$ref": "#/components/schemas/Loop"}, doc)["type"] == "string"


def test_input_schema_is_per_mode_and_orders_by_x_order() -> None:
    doc = {"components": {"schemas": {
        "Input": {"properties": {"b": {"x-order": 0}, "a": {"x-order": 1}}, "required": ["a"]},
        "TrainingInput": {"properties": {"epochs": {"type": "integer"}}},
    }}}
    predict = refs.input_schema(doc)
    assert predict is not None and predict.ordered_names() == ["b", "a"] and predict.required == ("a",)
    train = refs.input_schema(doc, "train")
    assert train is not None and list(train.properties) == ["epochs"]
    assert refs.input_schema(None) is None and refs.input_schema({"components": {}}) is None


def test_file_fields_follow_references() -> None:
    doc = _doc({"img": {"allOf": [{"$ref": "#/components/schemas/F"}]},
                "imgs": {"type": "array", "items": {"$ref": "#/components/schemas/F"}}},
               F={"type": "string", "format": "uri"})
    assert refs.file_fields(doc) == ({"img"}, {"imgs"})
