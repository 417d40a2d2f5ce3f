"""FileOp: chained file actions (mkdir, mkfile, copy, rm) applied to a state as one vertex/layer.

Follows Go's client/llb/fileop.go. Action k's input is the base state's input index (or -1 for
scratch) when k is first, else len(Op.inputs) + (k-1): the output of the previous action. Only the
last action has output 0. Relative paths resolve against the base state's cwd, copy sources against
the source state's cwd. Unset copy mode and every unset timestamp marshal as -1, which the daemon
reads as "keep the source's" / "now"; sending proto3's 0 instead gives mode 0000 and 1970 mtimes.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cogkit.llb.graph_errors import GraphError
from cogkit.llb.pb import ops_pb2
from cogkit.llb.state import State
from cogkit.llb.vertex import (
    EMPTY_INPUT,
    SKIP_OUTPUT,
    MarshalContext,
    Output,
    Vertex,
    clean_path,
    dedupe_outputs,
    join_path,
    op_without_platform,
)

# Dockerfile COPY semantics (dockerfile2llb dispatchCopy): the defaults of FileAction.copy().
DOCKERFILE_COPY_DEFAULTS: dict[str, bool] = {
    "follow_symlinks": True,
    "dir_copy_contents": True,
    "create_dest_path": True,
    "allow_wildcard": True,
    "allow_empty_wildcard": True,
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Owner = str | int | tuple[int | str, int | str]
Timestamp = datetime | int | None


def _timestamp(value: Timestamp) -> int:
    """Go's marshalTime: -1 when unset, else Unix nanoseconds."""
    if value is None:
        return -1
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise GraphError("file timestamps need a timezone", hint="use datetime(..., tzinfo=timezone.utc)")
        return (value - _EPOCH) // timedelta(microseconds=1) * 1000
    return int(value)


def _user_opt(value: int | str, base_input: int) -> ops_pb2.UserOpt:
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return ops_pb2.UserOpt(byID=int(value))
    if value == "root":
        return ops_pb2.UserOpt(byID=0)
    return ops_pb2.UserOpt(byName=ops_pb2.NamedUserOpt(name=value, input=base_input))


def _owner(owner: Owner | None, base_input: int) -> ops_pb2.ChownOpt | None:
    """Go's WithUser("user[:group]") / WithUIDGID: numeric parts by ID, names resolved in the base."""
    if owner is None:
        return None
    if isinstance(owner, tuple):
        user, group = owner
    elif isinstance(owner, int):
        user, group = owner, None
    else:
        user_s, sep, group_s = owner.partition(":")
        user, group = user_s, (group_s if sep else None)
    chown = ops_pb2.ChownOpt()
    chown.user.CopyFrom(_user_opt(user, base_input))
    if group is not None and group != "":
        chown.group.CopyFrom(_user_opt(group, base_input))
    return chown


def _normalize(parent: str, p: str, keep_slash: bool) -> str:
    """Go's normalizePath: resolve against parent; keep a trailing '/' or '/.' on copy destinations."""
    resolved = join_path(parent, p)
    if keep_slash:
        if p.endswith("/") and not resolved.endswith("/"):
            resolved += "/"
        elif p.endswith("/."):
            resolved = (resolved if resolved == "/" else resolved + "/") + "."
    return resolved


def _fill_created(
    msg: ops_pb2.FileActionMkDir | ops_pb2.FileActionMkFile,
    path: str,
    mode: int,
    owner: Owner | None,
    created: Timestamp,
    cwd: str,
    base_input: int,
) -> None:
    """What mkdir and mkfile share: a cwd-relative path, permission bits, an owner and a timestamp."""
    msg.path = _normalize(cwd, path, False)
    msg.mode = mode & 0o777
    if (chown := _owner(owner, base_input)) is not None:
        msg.owner.CopyFrom(chown)
    msg.timestamp = _timestamp(created)


@dataclass(frozen=True)
class _Mkdir:
    path: str
    mode: int
    parents: bool
    owner: Owner | None
    created: Timestamp

    def describe(self) -> str:
        return f"mkdir {self.path}"

    def fill(self, action: ops_pb2.FileAction, cwd: str, base_input: int) -> set[str]:
        _fill_created(action.mkdir, self.path, self.mode, self.owner, self.created, cwd, base_input)
        action.mkdir.makeParents = self.parents
        return set()


@dataclass(frozen=True)
class _Mkfile:
    path: str
    mode: int
    data: bytes
    owner: Owner | None
    created: Timestamp

    def describe(self) -> str:
        return f"mkfile {self.path}"

    def fill(self, action: ops_pb2.FileAction, cwd: str, base_input: int) -> set[str]:
        _fill_created(action.mkfile, self.path, self.mode, self.owner, self.created, cwd, base_input)
        action.mkfile.data = self.data
        return set()


@dataclass(frozen=True)
class _Rm:
    path: str
    allow_not_found: bool
    allow_wildcard: bool

    def describe(self) -> str:
        return f"rm {self.path}"

    def fill(self, action: ops_pb2.FileAction, cwd: str, base_input: int) -> set[str]:
        action.rm.path = _normalize(cwd, self.path, False)
        action.rm.allowNotFound = self.allow_not_found
        action.rm.allowWildcard = self.allow_wildcard
        return {"file.rm.wildcard"} if self.allow_wildcard else set()


@dataclass(frozen=True)
class _Copy:
    source: State
    src: str
    dest: str
    mode: int | None
    owner: Owner | None
    created: Timestamp
    follow_symlinks: bool
    dir_copy_contents: bool
    create_dest_path: bool
    allow_wildcard: bool
    allow_empty_wildcard: bool
    attempt_unpack: bool
    include_patterns: tuple[str, ...]
    exclude_patterns: tuple[str, ...]

    def source_path(self) -> str:
        """Go's sourcePath: path.Join(source cwd, path.Clean(src)) for relative sources."""
        p = clean_path(self.src)
        if posixpath.isabs(p):
            return p
        return clean_path(posixpath.join(self.source.cwd, p))

    def describe(self) -> str:
        return f"copy {self.source_path()} {self.dest}"

    def fill(self, action: ops_pb2.FileAction, cwd: str, base_input: int) -> set[str]:
        c = action.copy
        c.src = self.source_path()
        c.dest = _normalize(cwd, self.dest, True)
        if (chown := _owner(self.owner, base_input)) is not None:
            c.owner.CopyFrom(chown)
        c.mode = -1 if self.mode is None else self.mode
        c.followSymlink = self.follow_symlinks
        c.dirCopyContents = self.dir_copy_contents
        c.attemptUnpackDockerCompatibility = self.attempt_unpack
        c.createDestPath = self.create_dest_path
        c.allowWildcard = self.allow_wildcard
        c.allowEmptyWildcard = self.allow_empty_wildcard
        c.timestamp = _timestamp(self.created)
        c.include_patterns.extend(self.include_patterns)
        c.exclude_patterns.extend(self.exclude_patterns)
        if self.include_patterns or self.exclude_patterns:
            return {"file.copy.includeexcludepatterns"}
        return set()


_Action = _Mkdir | _Mkfile | _Rm | _Copy


@dataclass(frozen=True)
class FileAction:
    """An immutable chain of file actions; each method returns a longer chain."""

    actions: tuple[_Action, ...] = ()

    def _then(self, action: _Action) -> FileAction:
        return FileAction(self.actions + (action,))

    def mkdir(
        self,
        path: str,
        mode: int = 0o755,
        *,
        parents: bool = False,
        owner: Owner | None = None,
        created: Timestamp = None,
    ) -> FileAction:
        return self._then(_Mkdir(path, mode, parents, owner, created))

    def mkfile(
        self,
        path: str,
        mode: int = 0o644,
        data: bytes | str = b"",
        *,
        owner: Owner | None = None,
        created: Timestamp = None,
    ) -> FileAction:
        payload = data.encode() if isinstance(data, str) else bytes(data)
        return self._then(_Mkfile(path, mode, payload, owner, created))

    def rm(self, path: str, *, allow_not_found: bool = False, allow_wildcard: bool = False) -> FileAction:
        return self._then(_Rm(path, allow_not_found, allow_wildcard))

    def copy(
        self,
        source: State,
        src: str,
        dest: str,
        *,
        mode: int | None = None,
        owner: Owner | None = None,
        created: Timestamp = None,
        follow_symlinks: bool = True,
        dir_copy_contents: bool = True,
        create_dest_path: bool = True,
        allow_wildcard: bool = True,
        allow_empty_wildcard: bool = True,
        attempt_unpack: bool = False,
        include_patterns: Sequence[str] = (),
        exclude_patterns: Sequence[str] = (),
    ) -> FileAction:
        """Copy src (in source, wildcards allowed) to dest; defaults are Dockerfile COPY's semantics.

        include/exclude patterns need BuildKit >= v0.9 (cap file.copy.includeexcludepatterns).
        """
        if not isinstance(source, State):
            raise GraphError("copy needs a State to copy from", hint="for example llb.local('context')")
        return self._then(
            _Copy(
                source,
                src,
                dest,
                mode,
                owner,
                created,
                follow_symlinks,
                dir_copy_contents,
                create_dest_path,
                allow_wildcard,
                allow_empty_wildcard,
                attempt_unpack,
                tuple(include_patterns),
                tuple(exclude_patterns),
            )
        )


# `llb.mkdir(...)` etc. start a chain: they are the empty chain's methods, so each signature and its
# defaults are written once, on FileAction.
mkdir = FileAction().mkdir
mkfile = FileAction().mkfile
rm = FileAction().rm
copy = FileAction().copy


@dataclass(eq=False)
class FileVertex(Vertex):
    kind = "file"
    base: Output | None
    cwd: str
    actions: tuple[_Action, ...]
    name: str
    copy_sources: tuple[Output | None, ...] = field(default=())

    def inputs(self) -> list[Output]:
        # Go's FileAction.allOutputs: the base, then copy sources from the last action back.
        outs = [self.base] if self.base is not None else []
        outs += [s for s in reversed(self.copy_sources) if s is not None]
        return dedupe_outputs(outs)

    def to_op(self, ctx: MarshalContext) -> tuple[ops_pb2.Op, set[str]]:
        op = op_without_platform()
        caps = {"file.base"}
        keys: list[tuple[str, int]] = []

        def add_input(output: Output | None) -> int:
            if output is None:
                return EMPTY_INPUT
            edge = ctx.to_input(output)
            key = (edge.digest, edge.index)
            if key not in keys:
                keys.append(key)
                op.inputs.append(edge)
            return keys.index(key)

        base_input = add_input(self.base)
        secondary = [add_input(src) for src in self.copy_sources]
        for k, action in enumerate(self.actions):
            pa = op.file.actions.add()
            pa.input = base_input if k == 0 else len(keys) + k - 1
            pa.secondaryInput = secondary[k]
            pa.output = 0 if k == len(self.actions) - 1 else SKIP_OUTPUT
            caps |= action.fill(pa, self.cwd, base_input)
        return op, caps


def apply_file_action(state: State, action: FileAction, *, name: str | None = None) -> State:
    if not isinstance(action, FileAction) or not action.actions:
        raise GraphError("file() needs at least one action", hint="for example llb.mkdir('/app')")
    sources = tuple(a.source.output if isinstance(a, _Copy) else None for a in action.actions)
    vertex = FileVertex(
        base=state.output,
        cwd=state.cwd,
        actions=action.actions,
        name=name or ", ".join(a.describe() for a in action.actions),
        copy_sources=sources,
    )
    return state.with_output(Output(vertex))
