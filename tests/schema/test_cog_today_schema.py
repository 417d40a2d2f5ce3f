"""Static (ast) schemas of Cog 0.18–0.22 types and the build-time refusals Cog's generator makes."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from cogkit.schema.openapi import openapi_from_source
from cogkit.schema.signature import SchemaError

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "runtime", "fixtures", "today_types.py")


def _doc(name: str) -> dict:
    return openapi_from_source(FIXTURE, name)["components"]["schemas"]


def test_newer_input_types_render_as_cog_does() -> None:
    schema = _doc("Inputs")
    props = schema["Input"]["properties"]
    assert props["options"]["type"] == "object"
    assert props["rows"]["items"] == {"type": "object"}
    # a TypedDict input is an opaque object
    assert props["point"]["type"] == "object" and "properties" not in props["point"]
    assert props["maybe"]["nullable"] is True and "default" not in props["maybe"]
    assert props["either"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert props["mixed"]["items"] == {"anyOf": [{"type": "integer"}, {"type": "number"}]}
    assert props["settings"]["type"] == "object"
    assert props["many"]["type"] == "array" and props["many"]["items"] == {"type": "object"}
    assert props["many"]["nullable"] is True
    assert props["image"]["x-cog-accept"] == "image/*" and props["image"]["format"] == "uri"
    required = {"options", "rows", "point", "either", "mixed", "settings", "image"}
    assert set(schema["Input"]["required"]) == required
    # a TypedDict output is inline, NotRequired fields left out of required
    assert schema["Output"]["properties"]["label"] == {"type": "string", "title": "Label"}
    assert schema["Output"]["required"] == ["x"]


def test_typeddict_total_false_and_dict_of_values_outputs() -> None:
    box = _doc("Outputs")["Output"]
    assert "required" not in box and box["properties"]["tags"]["items"] == {"type": "string"}
    assert _doc("Counts")["Output"] == {"type": "object", "additionalProperties": {"type": "integer"},
                                        "title": "Output"}


@pytest.mark.parametrize(("source", "message"), [
    ("def run(self, x: str = Input(accept='image/*')) -> str: ...",
     "accept is only valid on Path or File inputs (parameter 'x')"),
    ("def run(self, x: int = Input(default=1, ge=2)) -> int: ...",
     "parameter 'x': default 1 is less than the minimum of 2"),
    ("def run(self, x: str = Input(default='z', choices=['a', 'b'])) -> str: ...",
     "parameter 'x': default 'z' is not one of the choices"),
    ("def run(self) -> ndarray: ...",
     "cannot resolve type 'ndarray' (imported from 'numpy') - external types cannot be statically analyzed"),
    ("def run(self) -> Helper: ...",
     "cannot resolve type 'Helper' - it is not a primitive type (str, int, float, bool, Path) and no"),
    ("def run(self, x: Path | str) -> str: ...", "Path is not supported in union inputs"),
    ("def run(self, x: int | str = Input(default=1, ge=0)) -> str: ...",
     "constraints and choices are not supported on union inputs"),
    ("def run(self, x: list[list[str]]) -> str: ...", "nested generics"),
    ("def run(self, x: list[str] = Input(default_factory=list)) -> str: ...",
     "default_factory is not supported in static schema generation"),
])
def test_build_time_refusals(tmp_path: Path, source: str, message: str) -> None:
    path = tmp_path / "run.py"
    path.write_text(textwrap.dedent("""
        from numpy import ndarray
        from cog import BaseRunner, Input, Path

        class Helper:
            pass

        class Runner(BaseRunner):
            SOURCE
    """).replace("SOURCE", source))
    with pytest.raises(SchemaError) as caught:
        openapi_from_source(str(path), "Runner")
    assert message in caught.value.message
    assert caught.value.hint or "nested" in message or "union" in message


@pytest.mark.parametrize("decorator", ["@streaming", "@streaming()", "@cog.streaming", "@cog.streaming()"])
def test_streaming_opt_in_is_read_from_the_source(tmp_path: Path, decorator: str) -> None:
    path = tmp_path / "run.py"
    path.write_text(textwrap.dedent(f"""
        from collections.abc import Iterator
        import cog
        from cog import BaseRunner, streaming

        class Runner(BaseRunner):
            {decorator}
            def run(self) -> Iterator[str]: ...
    """))
    post = openapi_from_source(str(path), "Runner")["paths"]["/predictions"]["post"]
    assert post["x-cog-streaming"] is True
    path.write_text(path.read_text().replace("-> Iterator[str]", "-> str"))
    with pytest.raises(SchemaError, match=r"@streaming requires Iterator\[...\]"):
        openapi_from_source(str(path), "Runner")
