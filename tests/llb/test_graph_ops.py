"""Marshalling of each op kind, checked field by field on the decoded protobuf."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cogkit import llb
from cogkit.llb.pb import ops_pb2

AMD64 = "linux/amd64"


def ops_by_name(definition: llb.Definition) -> dict[str, llb.GraphVertex]:
    return {v.name: v for v in definition.vertices}


def only(definition: llb.Definition, kind: str) -> list[llb.GraphVertex]:
    return [v for v in definition.vertices if v.kind == kind]


# -- sources ----------------------------------------------------------------------------------------
def test_image_source_fields() -> None:
    d = llb.image("python:3.11").marshal(platform=AMD64)
    (v,) = d.vertices
    assert v.kind == "source"
    assert v.op.source.identifier == "docker-image://docker.io/library/python:3.11"
    assert dict(v.op.source.attrs) == {}  # resolve mode "default" is not written
    assert (v.op.platform.OS, v.op.platform.Architecture, v.op.platform.Variant) == ("linux", "amd64", "")
    assert v.op.HasField("constraints") and not v.op.constraints.filter
    assert v.name == "docker-image://docker.io/library/python:3.11"
    meta = d.metadata[v.digest]
    assert meta.description["llb.customname"] == v.name
    assert dict(meta.caps) == {"source.image": True}


def test_image_resolve_mode_and_platform() -> None:
    d = llb.image("alpine", platform="linux/arm64", resolve_mode="pull", name="base").marshal()
    (v,) = d.vertices
    assert dict(v.op.source.attrs) == {"image.resolvemode": "pull"}
    assert v.op.platform.Architecture == "arm64"
    assert v.name == "base"
    assert d.metadata[v.digest].caps["source.image.resolvemode"]
    local_mode = llb.image("alpine", resolve_mode="local").marshal().vertices[0]
    assert dict(local_mode.op.source.attrs) == {"image.resolvemode": "local"}
    with pytest.raises(llb.GraphError):
        llb.image("alpine", resolve_mode="sometimes")


def test_local_source_attrs() -> None:
    ctx = llb.local(
        "context",
        include=["**/*.py", "a<b"],
        exclude=["weights/", ".git"],
        shared_key_hint="ctx",
        unique="u-1",
    )
    d = ctx.marshal(platform=AMD64)
    (v,) = d.vertices
    assert v.op.source.identifier == "local://context"
    assert dict(v.op.source.attrs) == {
        "local.includepattern": '["**/*.py","a\\u003cb"]',
        "local.excludepatterns": '["weights/",".git"]',
        "local.sharedkeyhint": "ctx",
        "local.unique": "u-1",
    }
    assert json.loads(v.op.source.attrs["local.includepattern"]) == ["**/*.py", "a<b"]
    assert not v.op.HasField("platform")  # local sources are not platform specific
    assert set(d.metadata[v.digest].caps) == {
        "source.local",
        "source.local.includepatterns",
        "source.local.excludepatterns",
        "source.local.sharedkeyhint",
        "source.local.unique",
    }
    bare = llb.local("context").marshal().vertices[0]
    assert dict(bare.op.source.attrs) == {}


# -- exec -------------------------------------------------------------------------------------------
def test_exec_meta_and_per_step_options() -> None:
    base = llb.image("python:3.11").with_env("A", "1").with_env("B", "2").with_cwd("/src").with_user("app")
    e = base.run("pip install 'x y'", env={"A": "9", "C": "3"}, cwd="sub", user="root")
    d = e.marshal(platform=AMD64)
    ex = only(d, "exec")[0]
    meta = ex.op.exec.meta
    assert list(meta.args) == ["pip", "install", "x y"]
    assert list(meta.env) == ["B=2", "A=9", "C=3"]  # a re-set variable moves to the end
    assert meta.cwd == "/src/sub"
    assert meta.user == "root"
    assert meta.removeMountStubsRecursive
    assert ex.op.exec.network == ops_pb2.UNSET
    assert ex.name == "pip install x y"
    assert (ex.op.platform.OS, ex.op.platform.Architecture) == ("linux", "amd64")
    # the per-step options do not leak into the resulting state
    assert (e.cwd, e.user, e.get_env("A"), e.get_env("C")) == ("/src", "app", "1", None)


def test_exec_mounts_sorted_with_indexes() -> None:
    base = llb.image("python:3.11")
    other = llb.image("busybox")
    ctx = llb.local("context")
    e = base.run(
        ["sh", "-c", "true"],
        mounts=[
            llb.tmpfs("/tmp"),
            llb.secret("/run/secrets/token", id="token", mode=0o440, uid=1, gid=2, optional=True),
            llb.bind(ctx, "/src", readonly=True, selector="/app"),
            llb.cache("/root/.cache/pip", id="pip", sharing="locked"),
            llb.bind(other, "/b-out"),
            llb.bind(llb.scratch(), "/a-out"),
            llb.bind(base, "/again", readonly=True),
        ],
        network="none",
        name="install",
    )
    d = e.marshal(platform=AMD64)
    ex = ops_by_name(d)["install"]
    mounts = ex.op.exec.mounts
    assert [m.dest for m in mounts] == [
        "/",
        "/a-out",
        "/again",
        "/b-out",
        "/root/.cache/pip",
        "/src",
        "/tmp",
        "/run/secrets/token",
    ]
    inputs = [(i.digest, i.index) for i in ex.op.inputs]
    image_digest = ops_by_name(d)["docker-image://docker.io/library/python:3.11"].digest
    busybox_digest = ops_by_name(d)["docker-image://docker.io/library/busybox:latest"].digest
    ctx_digest = ops_by_name(d)["local://context"].digest
    assert inputs == [(image_digest, 0), (busybox_digest, 0), (ctx_digest, 0)]  # base folded once
    by_dest = {m.dest: m for m in mounts}
    assert (by_dest["/"].input, by_dest["/"].output, by_dest["/"].readonly) == (0, 0, False)
    assert (by_dest["/a-out"].input, by_dest["/a-out"].output) == (-1, 1)  # scratch, writable
    assert (by_dest["/again"].input, by_dest["/again"].output, by_dest["/again"].readonly) == (0, -1, True)
    assert (by_dest["/b-out"].input, by_dest["/b-out"].output) == (1, 2)
    cache_mount = by_dest["/root/.cache/pip"]
    assert (cache_mount.input, cache_mount.output, cache_mount.mountType) == (-1, -1, ops_pb2.CACHE)
    assert (cache_mount.cacheOpt.ID, cache_mount.cacheOpt.sharing) == ("pip", ops_pb2.LOCKED)
    src = by_dest["/src"]
    assert (src.input, src.output, src.readonly, src.selector, src.mountType) == (
        2,
        -1,
        True,
        "/app",
        ops_pb2.BIND,
    )
    tmp = by_dest["/tmp"]
    assert (tmp.input, tmp.output, tmp.mountType, tmp.HasField("TmpfsOpt")) == (-1, -1, ops_pb2.TMPFS, True)
    sec = by_dest["/run/secrets/token"]
    assert (sec.input, sec.output, sec.mountType) == (-1, -1, ops_pb2.SECRET)
    assert (sec.secretOpt.ID, sec.secretOpt.mode, sec.secretOpt.uid, sec.secretOpt.gid) == (
        "token",
        0o440,
        1,
        2,
    )
    assert sec.secretOpt.optional
    assert ex.op.exec.network == ops_pb2.NONE
    assert set(d.metadata[ex.digest].caps) == {
        "exec.meta.base",
        "exec.meta.network",
        "exec.mount.bind",
        "exec.mount.selector",
        "exec.mount.cache",
        "exec.mount.cache.sharing",
        "exec.mount.tmpfs",
        "exec.mount.secret",
    }
    # writable binds are outputs of the exec, numbered in destination order
    assert e.get_mount("/a-out").output.index == 1
    assert e.get_mount("/b-out").output.index == 2
    with pytest.raises(llb.GraphError):
        e.get_mount("/src")


def test_mount_defaults_and_validation() -> None:
    assert llb.cache("/root/.cache").id == "/root/.cache"
    assert llb.cache("/c").sharing == "shared"
    s = llb.secret("/run/secrets/x")
    assert (s.id, s.mode, s.uid, s.gid, s.optional) == ("/run/secrets/x", 0o400, 0, 0, False)
    with pytest.raises(llb.GraphError):
        llb.cache("relative/path")
    with pytest.raises(llb.GraphError):
        llb.cache("/c", sharing="sometimes")
    base = llb.image("alpine")
    with pytest.raises(llb.GraphError):
        base.run("true", mounts=[llb.tmpfs("/x"), llb.cache("/x")])
    with pytest.raises(llb.GraphError):
        base.run("true", network="bridge")
    with pytest.raises(llb.GraphError):
        base.run("")
    with pytest.raises(llb.GraphError):
        base.run("echo 'unterminated")


def test_exec_default_path_follows_caps() -> None:
    e = llb.image("alpine").run(["true"], name="t")
    old_engine = {"source.image", "exec.meta.base", "exec.mount.bind"}
    without_cap = ops_by_name(e.marshal(caps=old_engine, platform=AMD64))["t"]
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in without_cap.op.exec.meta.env
    d = e.marshal(caps=old_engine | {"exec.meta.setsdefaultpath"}, platform=AMD64)
    with_cap = ops_by_name(d)["t"]
    assert list(with_cap.op.exec.meta.env) == []
    assert d.metadata[with_cap.digest].caps["exec.meta.setsdefaultpath"]
    assert list(ops_by_name(e.marshal(platform=AMD64))["t"].op.exec.meta.env) == []  # caps unknown: as given


# -- file -------------------------------------------------------------------------------------------
def test_file_chain_indexes_and_defaults() -> None:
    base = llb.image("python:3.11").with_cwd("/work")
    ctx = llb.local("context")
    s = base.file(
        llb.mkdir("a", 0o1755, parents=True)
        .mkfile("a/b", 0o644, b"data")
        .copy(ctx, "src/*.py", "code/")
        .copy(ctx, "README", "/docs/.", mode=0o600, owner="1000:app", follow_symlinks=False)
        .rm("/tmp/*", allow_not_found=True, allow_wildcard=True),
        name="code",
    )
    d = s.marshal(platform=AMD64)
    fv = ops_by_name(d)["code"]
    assert not fv.op.HasField("platform")  # file ops are not platform specific (Go sets nil)
    image_digest = ops_by_name(d)["docker-image://docker.io/library/python:3.11"].digest
    ctx_digest = ops_by_name(d)["local://context"].digest
    assert [(i.digest, i.index) for i in fv.op.inputs] == [(image_digest, 0), (ctx_digest, 0)]
    actions = fv.op.file.actions
    assert [(a.input, a.secondaryInput, a.output) for a in actions] == [
        (0, -1, -1),
        (2, -1, -1),  # len(inputs) + 0: the mkdir's output
        (3, 1, -1),
        (4, 1, -1),
        (5, -1, 0),  # only the last action is the op's output
    ]
    assert [a.WhichOneof("action") for a in actions] == ["mkdir", "mkfile", "copy", "copy", "rm"]
    a0 = actions[0].mkdir
    assert (a0.path, a0.mode, a0.makeParents, a0.timestamp) == ("/work/a", 0o755, True, -1)
    f = actions[1].mkfile
    assert (f.path, f.mode, f.data, f.timestamp) == ("/work/a/b", 0o644, b"data", -1)
    c = actions[2].copy
    assert (c.src, c.dest, c.mode, c.timestamp) == ("/src/*.py", "/work/code/", -1, -1)
    assert (c.followSymlink, c.dirCopyContents, c.createDestPath, c.allowWildcard, c.allowEmptyWildcard) == (
        True,
        True,
        True,
        True,
        True,
    )
    assert not c.attemptUnpackDockerCompatibility and not c.HasField("owner")
    c2 = actions[3].copy
    assert (c2.src, c2.dest, c2.mode, c2.followSymlink) == ("/README", "/docs/.", 0o600, False)
    assert c2.owner.user.byID == 1000
    assert (c2.owner.group.byName.name, c2.owner.group.byName.input) == ("app", 0)
    r = actions[4].rm
    assert (r.path, r.allowNotFound, r.allowWildcard) == ("/tmp/*", True, True)
    assert set(d.metadata[fv.digest].caps) == {"file.base", "file.rm.wildcard"}


def test_file_on_scratch_and_default_name() -> None:
    s = llb.scratch().file(llb.mkfile("/hello", 0o644, "hi", created=datetime(2020, 1, 1, tzinfo=UTC)))
    d = s.marshal()
    (fv,) = d.vertices
    assert fv.name == "mkfile /hello"
    assert list(fv.op.inputs) == []
    action = fv.op.file.actions[0]
    assert (action.input, action.secondaryInput, action.output) == (-1, -1, 0)
    assert action.mkfile.timestamp == 1577836800 * 10**9


def test_copy_source_path_uses_source_cwd() -> None:
    src = llb.image("busybox").with_cwd("/app")
    s = (
        llb.scratch()
        .with_cwd("/dst")
        .file(llb.copy(src, "lib/../bin/", "out", **llb.DOCKERFILE_COPY_DEFAULTS))
    )
    c = s.marshal().vertices[-1].op.file.actions[0].copy
    assert (c.src, c.dest) == ("/app/bin", "/dst/out")


def test_file_action_validation() -> None:
    with pytest.raises(llb.GraphError):
        llb.scratch().file(llb.FileAction())
    with pytest.raises(llb.GraphError):
        llb.copy("not a state", "/a", "/b")  # type: ignore[arg-type]


# -- merge ------------------------------------------------------------------------------------------
def _layers() -> tuple[llb.State, llb.State, llb.State]:
    deps = llb.image("python:3.11").run(["pip", "install", "x"], name="deps")
    weights = llb.scratch().file(llb.copy(llb.local("weights"), "/", "/weights/"), name="weights")
    code = llb.scratch().file(llb.copy(llb.local("context"), "/", "/src/"), name="code")
    return deps, weights, code


def test_merge_with_mergeop_cap() -> None:
    deps, weights, code = _layers()
    m = llb.merge([deps, weights, code], name="image")
    d = m.marshal(caps=_all_caps() | {"mergeop"}, platform=AMD64)
    mv = ops_by_name(d)["image"]
    assert mv.kind == "merge"
    assert not mv.op.HasField("platform")
    assert [i.input for i in mv.op.merge.inputs] == [0, 1, 2]
    names = ops_by_name(d)
    assert [i.digest for i in mv.op.inputs] == [
        names["deps"].digest,
        names["weights"].digest,
        names["code"].digest,
    ]
    assert d.metadata[mv.digest].caps["mergeop"]
    assert d.head == mv.digest


def test_merge_without_cap_is_a_linear_copy_chain() -> None:
    deps, weights, code = _layers()
    m = llb.merge([deps, weights, code], name="image")
    for caps in (None, _all_caps()):
        d = m.marshal(caps=caps, platform=AMD64)
        assert not only(d, "merge")
        names = ops_by_name(d)
        first = names["image [1/2: weights]"]
        second = names["image [2/2: code]"]
        assert d.head == second.digest
        assert [(i.digest, i.index) for i in first.op.inputs] == [
            (names["deps"].digest, 0),
            (names["weights"].digest, 0),
        ]
        assert [i.digest for i in second.op.inputs] == [first.digest, names["code"].digest]
        (action,) = first.op.file.actions
        assert (action.input, action.secondaryInput, action.output) == (0, 1, 0)
        c = action.copy
        assert (c.src, c.dest, c.mode, c.timestamp, c.dirCopyContents, c.allowWildcard, c.followSymlink) == (
            "/",
            "/",
            -1,
            -1,
            True,
            False,
            False,
        )
    # the merged state keeps the first layer's process defaults
    assert llb.merge([deps.with_cwd("/srv"), weights]).cwd == "/srv"


def test_merge_edge_cases() -> None:
    deps, weights, _ = _layers()
    assert llb.merge([]).is_scratch
    assert llb.merge([llb.scratch(), deps]) is deps
    merged = llb.merge([deps, llb.scratch(), weights])
    assert merged.output is not None and len(merged.output.vertex.inputs()) == 2


def _all_caps() -> set[str]:
    """The v0.8 caps a real dockerd 20.10 reports (no mergeop)."""
    return {
        "source.image",
        "source.local",
        "source.local.unique",
        "source.local.sharedkeyhint",
        "source.local.includepatterns",
        "source.local.excludepatterns",
        "exec.meta.base",
        "exec.meta.setsdefaultpath",
        "exec.mount.bind",
        "file.base",
        "constraints",
        "platform",
        "meta.description",
    }
