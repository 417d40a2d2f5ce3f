"""Docker PatternMatcher semantics (.dockerignore): anchoring, `**`, parents, `!` exceptions."""

from __future__ import annotations

import pytest

from cogkit.context.ignore import PatternMatcher, clean_path, parse_dockerignore


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        (["*.pyc"], "a.pyc", True),
        (["*.pyc"], "sub/a.pyc", False),  # anchored at the root, unlike .gitignore
        (["**/*.pyc"], "sub/deep/a.pyc", True),
        (["**/*.pyc"], "a.pyc", True),
        (["foo"], "foo/bar/baz", True),  # a matching parent covers its contents
        (["foo/*"], "foo/bar/baz", True),
        (["fo?"], "foo", True),
        (["fo?"], "fooo", False),
        (["f[a-o]o"], "foo", True),
        (["f[!o]o"], "foo", False),
        (["docs/**/x"], "docs/x", True),
        (["docs/**/x"], "docs/a/b/x", True),
        (["docs/**"], "docs/a/b", True),
        (["a.b"], "axb", False),  # `.` is literal
        (["*", "!keep"], "keep", False),
        (["*", "!keep"], "other", True),
        (["foo", "!foo/keep.txt"], "foo/keep.txt", False),
        (["foo", "!foo/keep.txt"], "foo/other.txt", True),
        (["!foo", "foo"], "foo", True),  # last match wins
        (["./a/../b"], "b", True),  # cleaned like filepath.Clean
        (["a\\*b"], "a*b", True),
        (["a\\*b"], "axb", False),
    ],
)
def test_docker_matching(patterns: list[str], path: str, expected: bool) -> None:
    assert PatternMatcher(patterns).matches(path) is expected


def test_dockerignore_parsing_drops_comments_and_leading_slash() -> None:
    lines = ["# comment", "", "  /build  ", "!/build/keep", "./x/../y", "weights/"]
    assert parse_dockerignore(lines) == ["build", "!build/keep", "y", "weights"]


def test_clean_path_matches_go() -> None:
    assert clean_path("") == "."
    assert clean_path("a//b/./c/..") == "a/b"
    assert clean_path("//a") == "/a"
    assert clean_path("../a") == "../a"


def test_could_match_below_prunes_only_unreachable_dirs() -> None:
    m = PatternMatcher(["src/app/*.py"])
    assert m.could_match_below("src")
    assert m.could_match_below("src/app")
    assert not m.could_match_below("docs")
    assert PatternMatcher(["**/*.py"]).could_match_below("anything/at/all")
