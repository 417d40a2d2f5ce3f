"""OpenAPI documents in Cog's shape.

Two producers render the same document from a Signature:
- build time: `openapi_from_source(path, name, mode)` parses the source with `ast` and never
  imports user code (for the `run.cog.openapi_schema` image label);
- run time: `openapi_from_predictor(obj, mode)` inspects the imported predictor (the worker child
  does this and the server serves it at /openapi.json).
Validation against the document is cogkit.schema.validation.
"""

from __future__ import annotations

import copy
import enum
import inspect
from typing import Any

from cogkit.schema.signature import (
    MISSING,
    InputField,
    SchemaError,
    Signature,
    TypeSpec,
    signature_from_callable,
)

__all__ = [
    "SchemaError",
    "merge_openapi",
    "openapi_document",
    "openapi_from_predictor",
    "openapi_from_source",
]

OPENAPI_VERSION = "3.0.2"
_NAMES = {
    "predict": ("Input", "Output", "PredictionRequest", "PredictionResponse", "predictions", "prediction"),
    "train": (
        "TrainingInput", "TrainingOutput", "TrainingRequest", "TrainingResponse", "trainings", "training"
    ),
}


def _title(name: str) -> str:
    return name.replace("_", " ").title()


def _plain(value: Any) -> Any:
    """JSON-shaped copy of a default/enum value (tuples become lists, Paths strings)."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "__fspath__"):
        return str(value)
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    return str(value)


def _redact_default(spec: TypeSpec, value: Any) -> Any:
    """Secret defaults are shown masked, like pydantic's SecretStr."""
    value = _plain(value)
    if spec.kind == "secret" and value is not None:
        return "**********"
    if spec.kind == "list" and spec.args and spec.args[0].kind == "secret" and isinstance(value, list):
        return ["**********" if v is not None else v for v in value]
    return value


def type_schema(spec: TypeSpec) -> dict[str, Any]:
    """The JSON schema of one TypeSpec (no title, no x-order)."""
    kind = spec.kind
    out: dict[str, Any]
    if kind == "str":
        out = {"type": "string"}
    elif kind == "int":
        out = {"type": "integer"}
    elif kind == "float":
        out = {"type": "number"}
    elif kind == "bool":
        out = {"type": "boolean"}
    elif kind in ("path", "file"):
        out = {"type": "string", "format": "uri"}
    elif kind == "secret":
        out = {"type": "string", "format": "password", "writeOnly": True, "x-cog-secret": True}
    elif kind == "list":
        out = {"type": "array", "items": type_schema(spec.args[0])}
    elif kind == "iterator":
        out = {"type": "array", "items": type_schema(spec.args[0]), "x-cog-array-type": "iterator"}
        if spec.concatenate:
            out["x-cog-array-display"] = "concatenate"
    elif kind == "union":
        # Cog 0.21 marks every variant of an Optional union nullable too
        out = {"anyOf": [{**type_schema(arg), "nullable": True} if spec.nullable else type_schema(arg)
                         for arg in spec.args]}
    elif kind == "literal":
        out = {**type_schema(spec.args[0]), "enum": _plain(spec.values)}
    elif kind == "dict":
        out = {"type": "object"}
        if spec.args:
            out["additionalProperties"] = type_schema(spec.args[0])
    elif kind == "object":
        out = _object_schema(spec)
    else:  # any
        out = {}
    if spec.nullable:
        out["nullable"] = True
    return out


def _object_schema(spec: TypeSpec) -> dict[str, Any]:
    properties = {}
    required = []
    for name, field_spec, is_required in spec.fields:
        properties[name] = {**type_schema(field_spec), "title": _title(name)}
        if is_required:
            required.append(name)
    out: dict[str, Any] = {"properties": properties, "type": "object"}
    if required:
        out["required"] = required
    return out


def _enum_component(field: InputField, base: TypeSpec) -> dict[str, Any]:
    values = _plain(field.choices if field.choices is not None else base.values)
    scalar = base.args[0] if base.kind == "literal" else base
    return {
        "type": type_schema(scalar)["type"],
        "enum": values,
        "title": field.name,
        "description": "An enumeration.",
    }


def _input_component(sig: Signature, enums: dict[str, Any], title: str) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in sig.inputs:
        spec = field.type
        if field.choices is not None or spec.kind == "literal":
            if field.name in enums:
                raise SchemaError(f"parameter `{field.name}` clashes with another enum component")
            enums[field.name] = _enum_component(field, spec)
            prop: dict[str, Any] = {"allOf": [{"$ref": f"#/components/schemas/{field.name}"}]}
            if spec.nullable:
                prop["nullable"] = True
        else:
            prop = {**type_schema(spec), "title": _title(field.name)}
        if field.required:
            required.append(field.name)
        elif field.default is not MISSING:
            prop["default"] = _redact_default(spec, field.default)
        if field.accept is not None:
            prop["x-cog-accept"] = field.accept
        if field.description is not None:
            prop["description"] = field.description
        for key, attr in (
            ("minimum", "ge"),
            ("maximum", "le"),
            ("minLength", "min_length"),
            ("maxLength", "max_length"),
            ("pattern", "regex"),
        ):
            value = getattr(field, attr)
            if value is not None:
                prop[key] = value
        if field.deprecated:
            prop["deprecated"] = True
        prop["x-order"] = field.order
        properties[field.name] = prop
    out: dict[str, Any] = {"properties": properties, "type": "object"}
    if required:
        out["required"] = required
    out["title"] = title
    return out


def _request_component(title: str, input_name: str) -> dict[str, Any]:
    nullable_str = {"type": "string", "nullable": True}
    return {
        "properties": {
            "input": {"$ref": f"#/components/schemas/{input_name}", "nullable": True},
            "id": {"title": "Id", **nullable_str},
            "created_at": {"title": "Created At", "type": "string", "format": "date-time", "nullable": True},
            "context": {
                "title": "Context",
                "additionalProperties": {"type": "string"},
                "type": "object",
                "nullable": True,
            },
            "output_file_prefix": {"title": "Output File Prefix", **nullable_str},
            "webhook": {
                "title": "Webhook",
                "type": "string",
                "maxLength": 65536,
                "minLength": 1,
                "format": "uri",
                "nullable": True,
            },
            "webhook_events_filter": {
                "default": ["start", "output", "logs", "completed"],
                "items": {"$ref": "#/components/schemas/WebhookEvent"},
                "type": "array",
                "nullable": True,
            },
        },
        "type": "object",
        "title": title,
    }


def _response_component(title: str, input_name: str, output_name: str) -> dict[str, Any]:
    def stamp(name: str) -> dict[str, Any]:
        return {"title": name, "type": "string", "format": "date-time", "nullable": True}

    return {
        "properties": {
            "input": {"$ref": f"#/components/schemas/{input_name}", "nullable": True},
            "output": {"$ref": f"#/components/schemas/{output_name}"},
            "id": {"title": "Id", "type": "string", "nullable": True},
            "version": {"title": "Version", "type": "string", "nullable": True},
            "created_at": stamp("Created At"),
            "started_at": stamp("Started At"),
            "completed_at": stamp("Completed At"),
            "logs": {"type": "string", "title": "Logs", "default": ""},
            "error": {"title": "Error", "type": "string", "nullable": True},
            "status": {"$ref": "#/components/schemas/Status", "nullable": True},
            "metrics": {"title": "Metrics", "additionalProperties": True, "type": "object", "nullable": True},
        },
        "type": "object",
        "title": title,
    }


_SHARED_COMPONENTS: dict[str, Any] = {
    "HTTPValidationError": {
        "properties": {
            "detail": {
                "items": {"$ref": "#/components/schemas/ValidationError"},
                "type": "array",
                "title": "Detail",
            }
        },
        "type": "object",
        "title": "HTTPValidationError",
    },
    "Status": {
        "type": "string",
        "enum": ["starting", "processing", "succeeded", "canceled", "failed"],
        "title": "Status",
        "description": "An enumeration.",
    },
    "ValidationError": {
        "properties": {
            "loc": {
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "type": "array",
                "title": "Location",
            },
            "msg": {"type": "string", "title": "Message"},
            "type": {"type": "string", "title": "Error Type"},
        },
        "type": "object",
        "required": ["loc", "msg", "type"],
        "title": "ValidationError",
    },
    "WebhookEvent": {
        "type": "string",
        "enum": ["start", "output", "logs", "completed"],
        "title": "WebhookEvent",
        "description": "An enumeration.",
    },
}


def _json_response(schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": "Successful Response", "content": {"application/json": {"schema": schema}}}


_VALIDATION_RESPONSE = {
    "description": "Validation Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
}
_PREFER = {
    "name": "prefer", "in": "header", "required": False, "schema": {"title": "Prefer", "type": "string"}
}


def _base_paths() -> dict[str, Any]:
    return {
        "/shutdown": {
            "post": {
                "summary": "Start Shutdown",
                "operationId": "start_shutdown_shutdown_post",
                "responses": {"200": _json_response({"title": "Response Start Shutdown Shutdown Post"})},
            }
        },
        "/": {
            "get": {
                "summary": "Root",
                "operationId": "root__get",
                "responses": {"200": _json_response({"title": "Response Root  Get"})},
            }
        },
        "/health-check": {
            "get": {
                "summary": "Healthcheck",
                "operationId": "healthcheck_health_check_get",
                "responses": {"200": _json_response({"title": "Response Healthcheck Health Check Get"})},
            }
        },
    }


def _mode_paths(mode: str) -> dict[str, Any]:
    _, _, request, response, plural, singular = _NAMES[mode]
    verb = "Predict" if mode == "predict" else "Train"
    id_param = {
        "name": f"{singular}_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "title": f"{singular.title()} ID"},
    }
    ok = _json_response({"$ref": f"#/components/schemas/{response}"})
    return {
        f"/{plural}": {
            "post": {
                "summary": verb,
                "description": f"Run a single {singular} on the model",
                "operationId": f"{verb.lower()}_{plural}_post",
                "parameters": [_PREFER],
                "requestBody": {
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{request}"}}}
                },
                "responses": {"200": ok, "422": _VALIDATION_RESPONSE},
            }
        },
        f"/{plural}/{{{singular}_id}}": {
            "put": {
                "summary": f"{verb} Idempotent",
                "description": f"Run a single {singular} on the model (idempotent creation).",
                "operationId": f"{verb.lower()}_idempotent_{plural}__{singular}_id__put",
                "parameters": [id_param, _PREFER],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "allOf": [{"$ref": f"#/components/schemas/{request}"}],
                                "title": f"{singular.title()} Request",
                            }
                        }
                    },
                },
                "responses": {"200": ok, "422": _VALIDATION_RESPONSE},
            }
        },
        f"/{plural}/{{{singular}_id}}/cancel": {
            "post": {
                "summary": "Cancel" if mode == "predict" else "Cancel Training",
                "description": f"Cancel a running {singular}",
                "operationId": f"cancel_{plural}__{singular}_id__cancel_post",
                "parameters": [id_param],
                "responses": {
                    "200": _json_response(
                        {"title": f"Response Cancel {plural.title()}  {singular.title()} Id  Cancel Post"}
                    ),
                    "422": _VALIDATION_RESPONSE,
                },
            }
        },
    }


def openapi_document(predict: Signature | None = None, train: Signature | None = None) -> dict[str, Any]:
    """The full OpenAPI document for a predictor and/or a trainer."""
    paths = _base_paths()
    components: dict[str, Any] = copy.deepcopy(_SHARED_COMPONENTS)
    enums: dict[str, Any] = {}
    for mode, sig in (("predict", predict), ("train", train)):
        if sig is None:
            continue
        input_name, output_name, request, response, _, _ = _NAMES[mode]
        paths.update(_mode_paths(mode))
        if sig.streaming and mode == "predict":
            paths["/predictions"]["post"]["x-cog-streaming"] = True
        components[input_name] = _input_component(sig, enums, input_name)
        components[output_name] = {**type_schema(sig.output), "title": output_name}
        components[request] = _request_component(request, input_name)
        components[response] = _response_component(response, input_name, output_name)
    components.update(enums)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Cog", "version": "0.1.0"},
        "paths": paths,
        "components": {"schemas": dict(sorted(components.items()))},
    }


def merge_openapi(*documents: dict[str, Any]) -> dict[str, Any]:
    """Combine a predict-only and a train-only document (e.g. from two workers) into one."""
    merged = copy.deepcopy(documents[0])
    for doc in documents[1:]:
        merged["paths"].update(doc["paths"])
        merged["components"]["schemas"].update(doc["components"]["schemas"])
    merged["components"]["schemas"] = dict(sorted(merged["components"]["schemas"].items()))
    return merged


def openapi_from_predictor(obj: Any, mode: str = "predict") -> dict[str, Any]:
    """Runtime schema of an imported predictor: a class, an instance, or a function."""
    method = "predict" if mode == "predict" else "train"
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        fn = obj
    else:
        fn = getattr(obj, method)
        owner = next((k for k in inspect.getmro(obj if inspect.isclass(obj) else type(obj))
                      if method in k.__dict__), None)
        inherited = owner is not None and owner.__name__ in ("BasePredictor", "BaseRunner")
        if inherited and mode == "predict" and hasattr(obj, "run"):
            fn = obj.run  # newer Cog's BaseRunner.run()
    return openapi_document(**{mode: signature_from_callable(fn, mode)})


def openapi_from_source(path: str, class_or_func_name: str, mode: str = "predict") -> dict[str, Any]:
    """Build-time schema: parse `path` with ast (never imports it or its dependencies)."""
    from cogkit.schema.signature_ast import signature_from_source

    return openapi_document(**{mode: signature_from_source(path, class_or_func_name, mode)})


def openapi_from_refs(
    predict: str | None = None, train: str | None = None, root: str = "."
) -> dict[str, Any]:
    """Build-time schema for cog.yaml's `predict:`/`train:` refs ("file.py:Name"), relative to root."""
    import os

    from cogkit.schema.signature_ast import signature_from_source

    sigs: dict[str, Signature] = {}
    for mode, ref in (("predict", predict), ("train", train)):
        if ref:
            file, _, name = ref.rpartition(":")
            sigs[mode] = signature_from_source(os.path.join(root, file), name, mode)
    return openapi_document(**sigs)


