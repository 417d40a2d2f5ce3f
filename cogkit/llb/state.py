"""The immutable State: a graph output plus the process defaults (env, cwd, user, platform).

Like Go's llb.State, every with_*/run/file call returns a new State and never mutates; env, cwd and
user only matter to later run() calls (BuildKit applies nothing from image configs by itself).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from cogkit.llb.graph_errors import GraphError
from cogkit.llb.platform import Platform
from cogkit.llb.vertex import Output, join_path

if TYPE_CHECKING:
    from cogkit.llb.definition import Definition
    from cogkit.llb.exec import ExecState, Mount
    from cogkit.llb.fileop import FileAction


@dataclass(frozen=True)
class State:
    """A point in the build graph. output None is scratch (an empty filesystem)."""

    output: Output | None = None
    env: tuple[tuple[str, str], ...] = ()
    cwd: str = "/"
    user: str = ""
    platform: Platform | None = None

    # -- inspection ---------------------------------------------------------------------------
    @property
    def is_scratch(self) -> bool:
        return self.output is None

    @property
    def name(self) -> str:
        """The producing vertex's human-readable name ("scratch" for an empty state)."""
        return self.output.vertex.name if self.output else "scratch"

    def get_env(self, key: str) -> str | None:
        for k, v in self.env:
            if k == key:
                return v
        return None

    def env_list(self) -> list[str]:
        """Env as the ordered K=V list an ExecOp carries."""
        return [f"{k}={v}" for k, v in self.env]

    # -- derived states -----------------------------------------------------------------------
    def _evolve(self, **changes: Any) -> State:
        """A plain State (an ExecState's extra mount access does not carry over, as in Go)."""
        base = State(self.output, self.env, self.cwd, self.user, self.platform)
        return replace(base, **changes)

    def with_output(self, output: Output | None) -> State:
        return self._evolve(output=output)

    def with_env(self, key: str, value: str) -> State:
        """Set one variable; a re-set moves it to the end (Go's EnvList.AddOrReplace @v0.8)."""
        if not key or "=" in key:
            raise GraphError(f"invalid environment variable name {key!r}", hint="names cannot contain '='")
        env = tuple((k, v) for k, v in self.env if k != key) + ((key, value),)
        return self._evolve(env=env)

    def with_envs(self, values: Mapping[str, str]) -> State:
        state = self
        for key, value in values.items():
            state = state.with_env(key, value)
        return state

    def without_env(self, key: str) -> State:
        return self._evolve(env=tuple((k, v) for k, v in self.env if k != key))

    def with_cwd(self, path: str) -> State:
        """Set the working directory; a relative path is joined to the current one (llb.Dir)."""
        return self._evolve(cwd=join_path(self.cwd, path))

    def with_user(self, user: str) -> State:
        return self._evolve(user=user)

    def with_platform(self, platform: Platform | str) -> State:
        return self._evolve(platform=Platform.parse(platform))

    def with_image_config(self, config: Mapping[str, Any] | bytes | str) -> State:
        """Inherit Env and WorkingDir (and the platform, if unset) from an OCI image config.

        Accepts the full image JSON (as LLBBridge.ResolveImageConfig returns it) or just its
        "config" section. Like Go's State.WithImageConfig, User/Cmd/Entrypoint are not applied.
        """
        if isinstance(config, bytes | str):
            try:
                config = json.loads(config)
            except ValueError as err:
                raise GraphError(f"image config is not JSON: {err}") from None
        if not isinstance(config, Mapping):
            raise GraphError("image config must be a JSON object")
        inner = config.get("config")
        section: Mapping[str, Any] = (
            inner if isinstance(inner, Mapping) else ({} if "config" in config else config)
        )
        state = self
        for item in section.get("Env") or []:
            key, _, value = str(item).partition("=")
            if key:
                state = state.with_env(key, value)
        if section.get("WorkingDir"):
            state = state.with_cwd(str(section["WorkingDir"]))
        if state.platform is None and config.get("architecture") and config.get("os"):
            state = state._evolve(
                platform=Platform(
                    str(config["os"]), str(config["architecture"]), str(config.get("variant") or "")
                ).normalized()
            )
        return state

    # -- graph operations ---------------------------------------------------------------------
    def run(
        self,
        args: Sequence[str] | str,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        user: str | None = None,
        network: str = "sandbox",
        mounts: Sequence[Mount] = (),
        name: str | None = None,
    ) -> ExecState:
        """Run a process on this state's filesystem (an ExecOp); see cogkit.llb.exec.run."""
        from cogkit.llb.exec import run

        return run(self, args, env=env, cwd=cwd, user=user, network=network, mounts=mounts, name=name)

    def file(self, action: FileAction, *, name: str | None = None) -> State:
        """Apply a chain of file actions (one FileOp, one layer); see cogkit.llb.fileop."""
        from cogkit.llb.fileop import apply_file_action

        return apply_file_action(self, action, name=name)

    def marshal(
        self, caps: Iterable[str] | None = None, *, platform: Platform | str | None = None
    ) -> Definition:
        """Serialise the graph ending here into a Definition (see cogkit.llb.marshal)."""
        from cogkit.llb.marshal import marshal

        return marshal(self, caps=caps, platform=platform)

    def __repr__(self) -> str:
        where = posixpath.normpath(self.cwd)
        return f"<State {self.name!r} cwd={where} user={self.user or 'root'} env={len(self.env)} vars>"


def scratch() -> State:
    """The empty filesystem (no vertex)."""
    return State()
