"""Definition: digests, the return op, walk order, dedupe, caps checks and the read-back API."""

from __future__ import annotations

import hashlib

import pytest

from cogkit import llb
from cogkit.llb.pb import ops_pb2

AMD64 = "linux/amd64"


def sample_graph() -> llb.State:
    base = llb.image("python:3.11-slim").with_env("PIP_NO_CACHE_DIR", "1").with_cwd("/src")
    ctx = llb.local("context", include=["**/*.py"], exclude=["weights/"], shared_key_hint="ctx")
    deps = base.run(
        "pip install -r requirements.txt",
        mounts=[llb.bind(ctx, "/ctx", readonly=True), llb.cache("/root/.cache/pip", id="pip")],
        name="install python packages",
    )
    code = deps.file(llb.mkdir("/src", 0o755, parents=True).copy(ctx, "*.py", "/src/"), name="copy code")
    weights = llb.scratch().file(llb.copy(ctx, "weights", "/weights"), name="weights")
    return llb.merge([code, weights], name="image")


def test_digests_are_sha256_of_op_bytes_and_return_op_is_last() -> None:
    d = sample_graph().marshal(platform=AMD64)
    assert len(d.ops) == len(d.digests) == len(d) + 1
    for data, dgst in zip(d.ops, d.digests, strict=True):
        assert dgst == "sha256:" + hashlib.sha256(data).hexdigest()
    ret = ops_pb2.Op.FromString(d.ops[-1])
    assert ret.WhichOneof("op") is None and not ret.HasField("platform")
    assert [(i.digest, i.index) for i in ret.inputs] == [(d.head, 0)]
    assert d.head == d.digests[-2]
    assert dict(d.metadata[d.digests[-1]].caps) == {
        "constraints": True,
        "platform": True,
        "meta.description": True,
    }


def test_every_vertex_has_a_name_and_metadata() -> None:
    d = sample_graph().marshal(platform=AMD64)
    assert set(d.metadata) == set(d.digests)
    names = [v.name for v in d.vertices]
    assert all(names)
    assert "install python packages" in names and "copy code" in names and "weights" in names
    assert names.count("local://context") == 1


def test_walk_order_is_topological_and_go_like() -> None:
    d = sample_graph().marshal(platform=AMD64)
    seen: set[str] = set()
    for v in d.walk():
        for dgst, _ in v.inputs:
            assert dgst in seen, f"{v.name} emitted before its input"
        seen.add(v.digest)
    # post-order DFS over inputs in Go's order (exec: mounts by destination; file: base, then sources)
    assert [v.name for v in d.vertices] == [
        "docker-image://docker.io/library/python:3.11-slim",
        "local://context",
        "install python packages",
        "copy code",
        "weights",
        "image [1/1: weights]",
    ]


def test_same_graph_same_bytes_and_names_do_not_change_op_digests() -> None:
    a = sample_graph().marshal(platform=AMD64)
    b = sample_graph().marshal(platform=AMD64)
    assert a.ops == b.ops and a.to_bytes() == b.to_bytes()
    renamed = llb.image("python:3.11-slim", name="base").marshal(platform=AMD64)
    plain = llb.image("python:3.11-slim").marshal(platform=AMD64)
    assert renamed.head == plain.head  # names live in metadata, not in the op
    assert renamed.to_bytes() != plain.to_bytes()
    other_platform = sample_graph().marshal(platform="linux/arm64")
    assert other_platform.head != a.head


def test_identical_ops_are_emitted_once() -> None:
    one = llb.image("alpine")
    two = llb.image("alpine", name="second name")
    e = one.run(["cat", "/x"], mounts=[llb.bind(two, "/x", readonly=True)], name="t")
    d = e.marshal(platform=AMD64)
    assert len(d) == 2
    ex = {v.name: v for v in d.vertices}["t"]
    assert len(ex.op.inputs) == 1  # both mounts point at the same input entry
    assert [m.input for m in ex.op.exec.mounts] == [0, 0]
    source_meta = d.metadata[ex.inputs[0][0]]
    assert source_meta.description["llb.customname"] == "second name"  # later metadata wins, like Go


def test_missing_engine_caps_fail_before_sending() -> None:
    state = llb.merge([llb.image("alpine"), llb.scratch().file(llb.mkdir("/x", 0o755))])
    v08_caps = {"source.image", "file.base"}
    state.marshal(caps=v08_caps)  # falls back to copies: fine
    tmpfs_size = llb.image("alpine").run(["true"], mounts=[llb.tmpfs("/t", size=1 << 20)])
    with pytest.raises(llb.GraphError) as err:
        tmpfs_size.marshal(caps=v08_caps | {"exec.meta.base", "exec.mount.bind", "exec.mount.tmpfs"})
    assert "exec.mount.tmpfs.size" in err.value.message


def test_round_trip_through_pb_and_bytes() -> None:
    d = sample_graph().marshal(platform=AMD64)
    back = llb.Definition.from_bytes(d.to_bytes())
    assert back.ops == d.ops and back.head == d.head and back.to_bytes() == d.to_bytes()
    assert [str(v) for v in back.vertices] == [str(v) for v in d.vertices]
    pb = d.to_pb()
    assert list(getattr(pb, "def")) == list(d.ops)
    assert llb.Definition.from_pb(pb).digests == d.digests


def test_invalid_definitions_are_rejected() -> None:
    d = llb.image("alpine").marshal()
    with pytest.raises(llb.GraphError):
        llb.Definition([d.ops[0]], {})
    with pytest.raises(llb.GraphError):
        llb.Definition([d.ops[0], d.ops[0]], {})  # last entry is not a return op
    dangling = ops_pb2.Op()
    dangling.inputs.add(digest="sha256:" + "0" * 64, index=0)
    with pytest.raises(llb.GraphError):
        llb.Definition([d.ops[0], dangling.SerializeToString()], {})
