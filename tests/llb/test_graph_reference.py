"""Image refs normalise like Go's ParseNormalizedNamed + TagNameOnly; bad refs are one-line errors."""

from __future__ import annotations

import pytest

from cogkit.llb import GraphError, normalize_image_ref

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("python", "docker.io/library/python:latest"),
        ("python:3.11", "docker.io/library/python:3.11"),
        ("python:3.11-slim", "docker.io/library/python:3.11-slim"),
        ("library/python:3.11", "docker.io/library/python:3.11"),
        ("docker.io/python", "docker.io/library/python:latest"),
        ("index.docker.io/library/python:3", "docker.io/library/python:3"),
        ("r8.im/user/model", "r8.im/user/model:latest"),
        ("user/repo", "docker.io/user/repo:latest"),
        ("user/repo:v1", "docker.io/user/repo:v1"),
        ("localhost/x", "localhost/x:latest"),
        ("localhost:5000/x", "localhost:5000/x:latest"),
        ("127.0.0.1:5000/team/x:dev", "127.0.0.1:5000/team/x:dev"),
        ("ghcr.io/org/sub/image:1.0", "ghcr.io/org/sub/image:1.0"),
        (f"python@{DIGEST}", f"docker.io/library/python@{DIGEST}"),
        (f"python:3.11@{DIGEST}", f"docker.io/library/python:3.11@{DIGEST}"),
        ("cogkit-base:py3.11-bookworm", "docker.io/library/cogkit-base:py3.11-bookworm"),
        ("a__b/c-d.e_f:T.1-x", "docker.io/a__b/c-d.e_f:T.1-x"),
        ("[::1]:5000/x", "[::1]:5000/x:latest"),
    ],
)
def test_normalize(ref: str, expected: str) -> None:
    assert normalize_image_ref(ref) == expected


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "Python:3.11",
        "docker.io/Library/python",
        "python:",
        "python:bad tag",
        "python@sha256:short",
        "a" * 64,
        "-leading/dash",
        "x/" + "a" * 260,
        "user//repo",
    ],
)
def test_invalid_refs_are_graph_errors(ref: str) -> None:
    with pytest.raises(GraphError) as err:
        normalize_image_ref(ref)
    assert "invalid image reference" in err.value.message
    assert err.value.hint
