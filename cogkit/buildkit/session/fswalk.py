"""Walk a local context in exactly the order and encoding fsutil's receiver validates.

The daemon checks every STAT: pre-order, parents before children, names strictly increasing in
byte order within a directory, Go `os.FileMode` bits rather than st_mode. File IDs are the running
count of STATs, so the walk must be deterministic and the sender must keep its own numbering.
"""

from __future__ import annotations

import os
import stat as st
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from cogkit.context.ignore import PatternMatcher
from cogkit.errors import CogkitError

# Go os.FileMode type bits (io/fs): what fsutil puts on the wire.
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_NAMED_PIPE = 1 << 25
MODE_SOCKET = 1 << 24
MODE_SETUID = 1 << 23
MODE_SETGID = 1 << 22
MODE_CHAR_DEVICE = 1 << 21
MODE_STICKY = 1 << 20
MODE_TYPE = MODE_DIR | MODE_SYMLINK | MODE_NAMED_PIPE | MODE_SOCKET | MODE_DEVICE | MODE_CHAR_DEVICE


def go_file_mode(st_mode: int) -> int:
    """Convert a POSIX st_mode to Go's os.FileMode (as os.Lstat would report it)."""
    mode = st_mode & 0o777
    fmt = st.S_IFMT(st_mode)
    if fmt == st.S_IFDIR:
        mode |= MODE_DIR
    elif fmt == st.S_IFLNK:
        mode |= MODE_SYMLINK
    elif fmt == st.S_IFBLK:
        mode |= MODE_DEVICE
    elif fmt == st.S_IFCHR:
        mode |= MODE_DEVICE | MODE_CHAR_DEVICE
    elif fmt == st.S_IFIFO:
        mode |= MODE_NAMED_PIPE
    elif fmt == st.S_IFSOCK:
        mode |= MODE_SOCKET
    if st_mode & st.S_ISUID:
        mode |= MODE_SETUID
    if st_mode & st.S_ISGID:
        mode |= MODE_SETGID
    if st_mode & st.S_ISVTX:
        mode |= MODE_STICKY
    return mode


@dataclass(frozen=True)
class Entry:
    """One walked entry: wire fields plus the host path to read data from."""

    path: str  # relative, slash-separated
    abspath: str
    mode: int  # Go FileMode
    size: int
    mtime_ns: int
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0

    @property
    def is_regular(self) -> bool:
        """Only regular files may be requested for data (fsutil's fileCanRequestData)."""
        return self.mode & MODE_TYPE == 0

    @property
    def is_dir(self) -> bool:
        return bool(self.mode & MODE_DIR)


def _entry(rel: str, abspath: str, s: os.stat_result) -> Entry:
    mode = go_file_mode(s.st_mode)
    is_dir = st.S_ISDIR(s.st_mode)
    linkname = os.readlink(abspath) if st.S_ISLNK(s.st_mode) else ""
    major = minor = 0
    if st.S_ISBLK(s.st_mode) or st.S_ISCHR(s.st_mode):
        major, minor = os.major(s.st_rdev), os.minor(s.st_rdev)
    return Entry(
        path=rel,
        abspath=abspath,
        mode=mode,
        size=0 if is_dir else s.st_size,
        mtime_ns=s.st_mtime_ns,
        linkname=linkname,
        devmajor=major,
        devminor=minor,
    )


def resolve_context_dir(path: str | os.PathLike[str]) -> str:
    """The real directory behind a context path, or a clear error before any build starts."""
    real = os.path.realpath(os.fspath(path))
    if not os.path.exists(real):
        raise CogkitError(f"context directory {os.fspath(path)} does not exist", "check the path you passed")
    if not os.path.isdir(real):
        raise CogkitError(f"context path {os.fspath(path)} is not a directory", "pass a directory")
    return real


def walk(
    root: str | os.PathLike[str],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    follow_paths: Sequence[str] = (),
) -> Iterator[Entry]:
    """Yield entries under `root` in fsutil's order, filtered with Docker pattern semantics.

    A directory that is not itself selected is still emitted (once, just in time) when something
    inside it is, because the receiver requires every parent before its children.
    """
    base = resolve_context_dir(root)
    includes = PatternMatcher([*include, *follow_paths])
    excludes = PatternMatcher(exclude)
    pending: list[Entry] = []  # ancestors walked into but not emitted yet

    def visit(dir_abs: str, dir_rel: str) -> Iterator[Entry]:
        try:
            names = sorted(os.listdir(dir_abs), key=os.fsencode)
        except OSError as exc:
            raise CogkitError(f"cannot read {dir_abs}: {exc.strerror}", "check permissions") from None
        for name in names:
            rel = f"{dir_rel}/{name}" if dir_rel else name
            abspath = os.path.join(dir_abs, name)
            try:
                s = os.lstat(abspath)
            except FileNotFoundError:
                continue  # vanished while walking
            if st.S_ISSOCK(s.st_mode):
                continue  # sockets cannot be sent (docker's context tar skips them too)
            is_dir = st.S_ISDIR(s.st_mode)
            selected = True
            descend = is_dir
            if includes and not includes.matches(rel):
                selected = False
                descend = is_dir and includes.could_match_below(rel)
            if selected and excludes and excludes.matches(rel):
                selected = False
                descend = is_dir and excludes.could_match_below(rel, exclusions=True)
            if not selected and not descend:
                continue
            entry = _entry(rel, abspath, s)
            if selected:
                yield from pending
                pending.clear()
                yield entry
            if descend:
                if not selected:
                    pending.append(entry)
                yield from visit(abspath, rel)
                if not selected and pending and pending[-1] is entry:
                    pending.pop()

    yield from visit(base, "")
