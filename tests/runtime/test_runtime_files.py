"""Pure logic of file handling: names, schema file fields, data URLs, output disposal."""

from __future__ import annotations

import base64
import os
import tempfile
import time

import msgspec

from cogkit.runtime import files
from cogkit.schema import refs


def test_sanitize_filename():
    assert files.sanitize_filename("/a/b/we%20ird%3Bname.txt") == "we_ird_name.txt"
    assert files.sanitize_filename("../../etc/passwd") == "passwd"
    assert files.sanitize_filename("/") == "file"
    assert files.sanitize_filename(".hidden") == "hidden"
    long = files.sanitize_filename("x" * 500 + ".png")
    assert len(long.encode()) <= 200 and long.endswith(".png")


def test_file_fields_from_schema():
    schema = {"components": {"schemas": {"Input": {"properties": {
        "a": {"type": "string", "format": "uri"},
        "b": {"type": "array", "items": {"type": "string", "format": "uri"}},
        "c": {"anyOf": [{"type": "string", "format": "uri"}, {"type": "null"}]},
        "d": {"type": "string"},
    }}}}}
    single, many = refs.file_fields(schema)
    assert single == {"a", "c"} and many == {"b"}
    assert refs.file_fields(None) == (frozenset(), frozenset())


def test_data_url_small_and_large(tmp_path):
    small = tmp_path / "s.txt"
    small.write_bytes(b"hi")
    assert files.data_url(str(small)) == "data:text/plain;base64," + base64.b64encode(b"hi").decode()
    big = tmp_path / "b.png"
    payload = os.urandom(files.RAW_DATA_URL_BYTES + 10)
    big.write_bytes(payload)
    raw = files.data_url(str(big))
    assert isinstance(raw, msgspec.Raw)
    decoded = msgspec.json.decode(msgspec.json.encode({"output": raw}))["output"]
    assert decoded == "data:image/png;base64," + base64.b64encode(payload).decode()


def test_dispose_output_only_removes_this_predictions_temp_files(tmp_path):
    old = tempfile.NamedTemporaryFile(delete=False, suffix=".bin")
    old.close()
    time.sleep(0.05)
    started = time.time_ns()
    new_dir = tempfile.mkdtemp()
    new = os.path.join(new_dir, "out.bin")
    open(new, "wb").close()
    outside = tmp_path / "keep.bin"  # pytest's tmp_path may live under /tmp too: make it old
    outside.write_bytes(b"x")
    try:
        files.dispose_output(old.name, started)
        assert os.path.exists(old.name), "a file older than the prediction (e.g. from setup) stays"
        files.dispose_output(new, started)
        assert not os.path.exists(new) and not os.path.exists(new_dir)
        files.dispose_output("/etc/hostname", started)
        assert os.path.exists("/etc/hostname")
    finally:
        os.unlink(old.name)
