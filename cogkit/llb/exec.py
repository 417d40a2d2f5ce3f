"""ExecOp: run a process on a state, with bind, cache, secret and tmpfs mounts.

Marshalling follows Go's client/llb/exec.go: bind/cache/tmpfs mounts (root "/" included) sorted by
destination, then secret mounts in the order given; each writable bind gets the next output index
(the root's is 0); readonly, cache and tmpfs mounts have output -1; scratch, cache, tmpfs and secret
mounts have input -1; identical inputs share one Op.inputs entry. (Go leaves a secret mount's
output at 0; it is -1 here, which the daemon ignores for non-bind mounts.)
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cogkit.llb.graph_errors import GraphError
from cogkit.llb.pb import ops_pb2
from cogkit.llb.platform import Platform
from cogkit.llb.state import State
from cogkit.llb.vertex import (
    EMPTY_INPUT,
    SKIP_OUTPUT,
    MarshalContext,
    Output,
    Vertex,
    base_op,
    dedupe_outputs,
    join_path,
    require_absolute,
)

NETWORK_MODES = {"sandbox": ops_pb2.UNSET, "host": ops_pb2.HOST, "none": ops_pb2.NONE}
CACHE_SHARING = {"shared": ops_pb2.SHARED, "private": ops_pb2.PRIVATE, "locked": ops_pb2.LOCKED}
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class BindMount:
    """Another state's filesystem at dest; writable binds become extra outputs (get_mount)."""

    source: State
    dest: str
    readonly: bool = False
    selector: str = ""


@dataclass(frozen=True)
class CacheMount:
    """A persistent cache directory kept by the daemon across builds, keyed by id."""

    dest: str
    id: str
    sharing: str = "shared"


@dataclass(frozen=True)
class SecretMount:
    """A secret file served by the client's session; never part of any layer."""

    dest: str
    id: str
    mode: int = 0o400
    uid: int = 0
    gid: int = 0
    optional: bool = False


@dataclass(frozen=True)
class TmpfsMount:
    """An in-memory filesystem for the duration of the run (size 0 = daemon default)."""

    dest: str
    size: int = 0


Mount = BindMount | CacheMount | SecretMount | TmpfsMount


def bind(source: State, dest: str, *, readonly: bool = False, selector: str = "") -> BindMount:
    return BindMount(source, require_absolute(dest, "mount destination"), readonly, selector)


def cache(dest: str, *, id: str | None = None, sharing: str = "shared") -> CacheMount:  # noqa: A002
    """A cache mount; id defaults to the destination, as in Dockerfile RUN --mount=type=cache."""
    if sharing not in CACHE_SHARING:
        raise GraphError(f"unknown cache sharing mode {sharing!r}", hint="use shared, private or locked")
    return CacheMount(require_absolute(dest, "mount destination"), id or dest, sharing)


def secret(
    dest: str,
    *,
    id: str | None = None,  # noqa: A002
    mode: int = 0o400,
    uid: int = 0,
    gid: int = 0,
    optional: bool = False,
) -> SecretMount:
    """A secret mount; id defaults to the destination, as in Go's llb.AddSecret."""
    return SecretMount(require_absolute(dest, "secret destination"), id or dest, mode, uid, gid, optional)


def tmpfs(dest: str, *, size: int = 0) -> TmpfsMount:
    return TmpfsMount(require_absolute(dest, "mount destination"), size)


@dataclass(frozen=True)
class _PlacedMount:
    """A mount with its marshal-time slots decided: which output it produces (or -1)."""

    dest: str
    source: Output | None
    readonly: bool = False
    selector: str = ""
    output: int = SKIP_OUTPUT
    spec: Mount | None = None


@dataclass(eq=False)
class ExecVertex(Vertex):
    kind = "exec"
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    user: str
    network: str
    platform: Platform | None
    mounts: tuple[_PlacedMount, ...]  # sorted bind/cache/tmpfs mounts (root first) ...
    secrets: tuple[SecretMount, ...]  # ... then secrets in the order given
    name: str
    outputs_by_dest: dict[str, int] = field(default_factory=dict)

    def inputs(self) -> list[Output]:
        return dedupe_outputs(m.source for m in self.mounts if m.source is not None)

    def to_op(self, ctx: MarshalContext) -> tuple[ops_pb2.Op, set[str]]:
        caps = {"exec.meta.base"}
        env = list(self.env)
        if ctx.caps is not None:
            if "exec.meta.setsdefaultpath" in ctx.caps:
                caps.add("exec.meta.setsdefaultpath")
            elif not any(e.startswith("PATH=") for e in env):
                env.append("PATH=" + DEFAULT_PATH)
        op = base_op(self.platform, ctx)
        exec_op = op.exec
        exec_op.meta.args.extend(self.args)
        exec_op.meta.env.extend(env)
        exec_op.meta.cwd = self.cwd
        exec_op.meta.user = self.user
        exec_op.meta.removeMountStubsRecursive = True
        exec_op.network = NETWORK_MODES[self.network]
        if self.network != "sandbox":
            caps.add("exec.meta.network")

        seen_inputs: list[tuple[str, int]] = []
        for placed in self.mounts:
            pm = exec_op.mounts.add()
            pm.dest = placed.dest
            pm.output = placed.output
            pm.readonly = placed.readonly
            pm.selector = placed.selector
            if placed.source is None:
                pm.input = EMPTY_INPUT
            else:
                edge = ctx.to_input(placed.source)
                key = (edge.digest, edge.index)
                if key not in seen_inputs:
                    seen_inputs.append(key)
                    op.inputs.append(edge)
                pm.input = seen_inputs.index(key)
            if placed.selector:
                caps.add("exec.mount.selector")
            spec = placed.spec
            if isinstance(spec, CacheMount):
                pm.mountType = ops_pb2.CACHE
                pm.cacheOpt.ID = spec.id
                pm.cacheOpt.sharing = CACHE_SHARING[spec.sharing]
                caps.update({"exec.mount.cache", "exec.mount.cache.sharing"})
            elif isinstance(spec, TmpfsMount):
                pm.mountType = ops_pb2.TMPFS
                pm.TmpfsOpt.size = spec.size
                caps.add("exec.mount.tmpfs")
                if spec.size > 0:
                    caps.add("exec.mount.tmpfs.size")
            elif placed.source is not None:
                caps.add("exec.mount.bind")
        for sec in self.secrets:
            pm = exec_op.mounts.add()
            pm.input = EMPTY_INPUT
            pm.output = SKIP_OUTPUT
            pm.dest = sec.dest
            pm.mountType = ops_pb2.SECRET
            pm.secretOpt.ID = sec.id
            pm.secretOpt.uid = sec.uid
            pm.secretOpt.gid = sec.gid
            pm.secretOpt.mode = sec.mode
            pm.secretOpt.optional = sec.optional
        if self.secrets:
            caps.add("exec.mount.secret")
        return op, caps


@dataclass(frozen=True)
class ExecState(State):
    """The state after a run: its root filesystem, plus access to writable bind mounts' outputs."""

    exec_vertex: ExecVertex | None = None

    def root(self) -> State:
        return self._evolve()

    def get_mount(self, dest: str) -> State:
        """The filesystem a writable bind mount at dest holds after the run (Go's GetMount)."""
        assert self.exec_vertex is not None
        index = self.exec_vertex.outputs_by_dest.get(dest)
        if index is None:
            raise GraphError(
                f"no writable bind mount at {dest!r} in step {self.exec_vertex.name!r}",
                hint="only non-readonly bind mounts produce an output",
            )
        return State(output=Output(self.exec_vertex, index), platform=self.platform)


def _argv(args: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(args, str):
        try:
            argv = shlex.split(args)
        except ValueError as err:
            raise GraphError(f"cannot split command {args!r}: {err}", hint="check its quoting") from None
    else:
        argv = [str(a) for a in args]
    if not argv:
        raise GraphError("a run step needs a command", hint='for example ["sh", "-c", "..."]')
    return tuple(argv)


def run(
    state: State,
    args: Sequence[str] | str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    user: str | None = None,
    network: str = "sandbox",
    mounts: Sequence[Mount] = (),
    name: str | None = None,
) -> ExecState:
    """An ExecOp on state's root. A string command is split like llb.Shlex (no implicit shell).

    env/cwd/user apply to this step only (Go RunOptions); the returned state keeps state's values.
    """
    if network not in NETWORK_MODES:
        raise GraphError(f"unknown network mode {network!r}", hint="use sandbox, host or none")
    argv = _argv(args)
    step = state.with_envs(env or {})
    step_cwd = join_path(state.cwd, cwd) if cwd else state.cwd
    step_user = state.user if user is None else user

    regular: list[Mount] = []
    secrets: list[SecretMount] = []
    dests = {"/"}
    for m in mounts:
        if m.dest in dests:
            raise GraphError(f"two mounts at {m.dest!r}", hint="each mount needs its own destination")
        dests.add(m.dest)
        (secrets if isinstance(m, SecretMount) else regular).append(m)

    root = _PlacedMount("/", state.output)
    candidates: list[_PlacedMount] = [root]
    for m in regular:
        if isinstance(m, BindMount):
            candidates.append(_PlacedMount(m.dest, m.source.output, m.readonly, m.selector, spec=m))
        else:
            candidates.append(_PlacedMount(m.dest, None, spec=m))
    candidates.sort(key=lambda p: p.dest)

    placed: list[_PlacedMount] = []
    outputs_by_dest: dict[str, int] = {}
    next_output = 0
    for p in candidates:
        writable_bind = p.spec is None or (isinstance(p.spec, BindMount) and not p.readonly)
        if writable_bind:
            outputs_by_dest[p.dest] = next_output
            p = _PlacedMount(p.dest, p.source, p.readonly, p.selector, next_output, p.spec)
            next_output += 1
        placed.append(p)

    vertex = ExecVertex(
        args=argv,
        env=tuple(step.env_list()),
        cwd=step_cwd,
        user=step_user,
        network=network,
        platform=state.platform,
        mounts=tuple(placed),
        secrets=tuple(secrets),
        name=name or " ".join(argv),
        outputs_by_dest=outputs_by_dest,
    )
    return ExecState(
        output=Output(vertex, outputs_by_dest["/"]),
        env=state.env,
        cwd=state.cwd,
        user=state.user,
        platform=state.platform,
        exec_vertex=vertex,
    )
