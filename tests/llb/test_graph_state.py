"""State is immutable and carries env/cwd/user/platform; image configs are inherited like Go's."""

from __future__ import annotations

import json

import pytest

from cogkit import llb


def test_with_methods_return_new_states() -> None:
    base = llb.image("python:3.11")
    derived = base.with_env("A", "1").with_cwd("/src").with_user("app").with_platform("linux/x86_64")
    assert (base.env, base.cwd, base.user, base.platform) == ((), "/", "", None)
    assert derived.env == (("A", "1"),)
    assert (derived.cwd, derived.user, str(derived.platform)) == ("/src", "app", "linux/amd64")
    assert derived.output is base.output
    with pytest.raises(AttributeError):
        derived.cwd = "/x"  # type: ignore[misc]


def test_cwd_relative_and_env_order() -> None:
    s = llb.scratch().with_cwd("/a").with_cwd("b/../c").with_cwd("//d/")
    assert s.cwd == "/d"
    assert llb.scratch().with_cwd("/a").with_cwd("b/../c").cwd == "/a/c"
    env = llb.scratch().with_env("A", "1").with_env("B", "2").with_env("A", "3")
    assert env.env_list() == ["B=2", "A=3"]
    assert env.without_env("B").env_list() == ["A=3"]
    with pytest.raises(llb.GraphError):
        llb.scratch().with_env("A=B", "x")


def test_with_image_config_inherits_env_workdir_platform() -> None:
    config = {
        "architecture": "arm64",
        "os": "linux",
        "variant": "v8",
        "config": {
            "Env": ["PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8", "EMPTY="],
            "WorkingDir": "/app",
            "User": "nobody",
            "Cmd": ["python3"],
        },
    }
    s = llb.image("python:3.11").with_env("LANG", "x").with_image_config(json.dumps(config).encode())
    assert s.env_list() == ["PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8", "EMPTY="]
    assert s.cwd == "/app"
    assert s.user == ""  # like Go, User/Cmd/Entrypoint are not applied
    assert str(s.platform) == "linux/arm64"
    pinned = llb.image("python:3.11", platform="linux/amd64").with_image_config(config)
    assert str(pinned.platform) == "linux/amd64"
    section_only = llb.scratch().with_image_config({"Env": ["A=1"], "WorkingDir": ""})
    assert (section_only.env_list(), section_only.cwd) == (["A=1"], "/")
    assert llb.scratch().with_image_config({"config": None}).env == ()
    with pytest.raises(llb.GraphError):
        llb.scratch().with_image_config(b"{not json")


def test_exec_state_is_a_state_of_its_root() -> None:
    base = llb.image("alpine").with_env("A", "1")
    e = base.run(["true"], mounts=[llb.bind(llb.scratch(), "/out")])
    assert isinstance(e, llb.State) and isinstance(e, llb.ExecState)
    assert e.output is not None and e.output.index == 0 and e.env == base.env
    root = e.root()
    assert type(root) is llb.State and root.output == e.output
    assert type(e.with_env("B", "2")) is llb.State
    out = e.get_mount("/out")
    assert out.output is not None and out.output.vertex is e.output.vertex and out.output.index == 1


def test_platform_parsing() -> None:
    assert str(llb.Platform.parse("linux/aarch64")) == "linux/arm64"
    assert str(llb.Platform.parse("linux/arm64/v8")) == "linux/arm64"
    assert str(llb.Platform.parse("linux/arm")) == "linux/arm/v7"
    assert str(llb.Platform.parse("Linux/AMD64")) == "linux/amd64"
    for bad in ("linux", "linux//", "a/b/c/d"):
        with pytest.raises(llb.GraphError):
            llb.Platform.parse(bad)
    assert llb.host_platform().os == "linux"


def test_marshal_scratch_is_an_error() -> None:
    with pytest.raises(llb.GraphError):
        llb.scratch().marshal()
