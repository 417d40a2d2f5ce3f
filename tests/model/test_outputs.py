"""Output printing and file naming (pure logic on real files in a temp dir)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from cogkit.model.outputs import OutputWriter, decode_data_url


def _url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _writer(tmp_path: Path, output: Path | None = None) -> OutputWriter:
    return OutputWriter(output_path=output, directory=tmp_path, stdout=io.StringIO(), stderr=io.StringIO())


def test_string_printed_other_values_as_json(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    w.write("hello")
    w.write({"a": 1})
    w.write(3)
    assert w.stdout.getvalue() == 'hello\n{\n  "a": 1\n}\n3\n'
    assert not list(tmp_path.iterdir())


def test_single_file_goes_to_output_ext_or_dash_o(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    w.write(_url(b"png!"))
    assert (tmp_path / "output.png").read_bytes() == b"png!"
    assert "Written output to: output.png" in w.stderr.getvalue()
    w2 = _writer(tmp_path, Path("sub/result.jpg"))
    w2.write(_url(b"jpg!", "image/jpeg"))
    assert (tmp_path / "sub/result.jpg").read_bytes() == b"jpg!"


def test_list_of_files_numbered(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    w.write([_url(b"0"), _url(b"1", "text/plain")])
    assert (tmp_path / "output.0.png").read_bytes() == b"0"
    assert (tmp_path / "output.1.txt").read_bytes() == b"1"
    w2 = _writer(tmp_path, Path("out.png"))
    w2.write([_url(b"a"), _url(b"b")])
    assert [p.name for p in w2.written] == ["out.0.png", "out.1.png"]


def test_concatenate_iterator_joined(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    w.write(["he", "llo", " world"], {"type": "array", "x-cog-array-display": "concatenate"})
    assert w.stdout.getvalue() == "hello world\n"
    w2 = _writer(tmp_path)
    w2.write(["a", "b"], {"type": "array"})
    assert json.loads(w2.stdout.getvalue()) == ["a", "b"]
    # not on a terminal: Cog's JSON list, as `cog predict` prints it
    w3 = _writer(tmp_path)
    w3.join_tokens = False
    w3.write(["he", "llo"], {"type": "array", "x-cog-array-display": "concatenate"})
    assert json.loads(w3.stdout.getvalue()) == ["he", "llo"]


def test_files_inside_objects_written_and_replaced_by_paths(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    w.write({"weights": _url(b"W", "application/octet-stream"), "loss": 0.5})
    assert json.loads(w.stdout.getvalue()) == {"weights": "output.bin", "loss": 0.5}
    assert (tmp_path / "output.bin").read_bytes() == b"W"
    w2 = _writer(tmp_path)
    w2.write({"a": _url(b"A", "text/plain"), "b": [_url(b"B0"), _url(b"B1")]})
    assert json.loads(w2.stdout.getvalue()) == {
        "a": "output.a.txt",
        "b": ["output.b.0.png", "output.b.1.png"],
    }
    w3 = _writer(tmp_path, Path("weights"))
    w3.write({"weights": _url(b"W", "application/octet-stream")})
    assert (tmp_path / "weights").read_bytes() == b"W"


def test_decode_plain_data_url() -> None:
    assert decode_data_url("data:text/plain,a%20b") == ("text/plain", b"a b")


def test_dash_o_captures_text_and_json_outputs(tmp_path: Path) -> None:
    w = _writer(tmp_path, Path("answer.txt"))
    w.write("forty-two")
    assert (tmp_path / "answer.txt").read_text() == "forty-two\n"
    assert w.stdout.getvalue() == ""
    w2 = _writer(tmp_path, Path("scores.json"))
    w2.write({"score": 0.9})
    assert json.loads((tmp_path / "scores.json").read_text()) == {"score": 0.9}


def test_default_weights_path_only_takes_files(tmp_path: Path) -> None:
    """`cogkit train` without -o: a file goes to ./weights, a plain value is printed."""
    w = OutputWriter(
        output_path=Path("weights"),
        directory=tmp_path,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        text_to_file=False,
    )
    w.write({"loss": 0.1})
    assert json.loads(w.stdout.getvalue()) == {"loss": 0.1}
    assert not (tmp_path / "weights").exists()
    w.write(_url(b"W", "application/octet-stream"))
    assert (tmp_path / "weights").read_bytes() == b"W"


def test_dash_o_existing_directory_gets_default_names_inside(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    w = _writer(tmp_path, Path("out"))
    w.write([_url(b"a"), _url(b"b")])
    assert (tmp_path / "out/output.0.png").read_bytes() == b"a"
    assert (tmp_path / "out/output.1.png").read_bytes() == b"b"
    w2 = _writer(tmp_path, Path("out"))
    w2.write({"score": 1})
    assert json.loads((tmp_path / "out/output.json").read_text()) == {"score": 1}
    assert "Written output to: out/output.json" in w2.stderr.getvalue()
