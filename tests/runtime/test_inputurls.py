"""The file-input rule: data:, http: and https: URLs only, plus paths in the CLI's own input dir."""

from __future__ import annotations

import os

import pytest

from cogkit.runtime.inputurls import check_file_inputs, inside_input_dir


@pytest.mark.parametrize("value", [
    "data:text/plain;base64,aGk=", "data:,hi", "DATA:,hi", "http://example.com/a.png", "HTTPS://example.com/x",
    "Http://127.0.0.1:5000/x?sig=1",
])
def test_allowed_urls(value):
    assert check_file_inputs({"f": value}, ["f"], []) == []


@pytest.mark.parametrize("value, words", [
    ("/etc/passwd", "not a URL"), ("/./etc/passwd", "not a URL"),
    ("../../../../etc/hostname", "not a URL"), ("file:///etc/passwd", "scheme 'file'"),
    ("FILE:///etc/passwd", "scheme 'FILE'"), ("ftp://x/y", "scheme 'ftp'"), ("%2Fetc%2Fpasswd", "not a URL"),
    ("%66ile:///etc/passwd", "not a URL"), ("file%3A///etc/passwd", "not a URL"),
    (" http://example.com/", "not a URL"), ("http:/etc/passwd", "no host"),
    ("https:///etc/passwd", "no host"),
    ("data:text/plain;base64", "not a valid data URL"), ("", "not a URL"), ("~/.ssh/id_rsa", "not a URL"),
    ("gopher://127.0.0.1:6379/_FLUSHALL", "scheme 'gopher'"), ("jar:file:///x!/y", "scheme 'jar'"),
])
def test_everything_else_is_a_422_naming_the_input_and_the_schemes(value, words):
    errors = check_file_inputs({"f": value}, ["f"], [])
    assert len(errors) == 1, errors
    err = errors[0]
    assert err["loc"] == ["body", "input", "f"] and err["type"] == "url_scheme"
    assert words in err["msg"] and "input 'f'" in err["msg"] and "data:, http: or https:" in err["msg"]
    assert "\n" not in err["msg"]


def test_lists_report_each_bad_item_and_the_file_count_is_limited():
    errors = check_file_inputs({"fs": ["data:,a", "/etc/passwd", "http://x/y", "file:///z"]}, [], ["fs"])
    assert [e["loc"] for e in errors] == [["body", "input", "fs", 1], ["body", "input", "fs", 3]]
    errors = check_file_inputs({"fs": ["data:,a"] * 4, "f": "data:,b"}, ["f"], ["fs"], max_files=4)
    assert [e["type"] for e in errors] == ["too_many_files"]
    assert "5 file inputs in one request; the limit is 4" in errors[0]["msg"]


def test_paths_inside_the_runs_input_dir_only(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "1").mkdir(parents=True)
    outside = tmp_path / "secret.txt"
    outside.write_text("x")
    link = run_dir / "1" / "big.bin"
    link.symlink_to(outside)  # how the CLI hands over a file without copying it
    (run_dir / "escape").symlink_to(tmp_path, target_is_directory=True)
    d = str(run_dir)
    assert inside_input_dir(str(link), d)
    assert check_file_inputs({"f": str(link)}, ["f"], [], input_dir=d) == []
    for bad in (f"{d}/1/../../secret.txt", f"{d}/./1/big.bin", f"{d}//1/big.bin", f"{d}/escape/secret.txt",
                f"{d}/1/missing", str(outside), d, f"{d}x/1/big.bin"):
        assert not inside_input_dir(bad, d), bad
        assert check_file_inputs({"f": bad}, ["f"], [], input_dir=d), bad
    assert check_file_inputs({"f": str(link)}, ["f"], [], input_dir=None), "no input dir: no paths at all"
    assert os.path.exists(outside)
