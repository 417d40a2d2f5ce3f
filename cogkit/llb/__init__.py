"""The LLB graph: immutable states, one module per op, deterministic marshalling (see docs/contracts.md).

Pure data: no I/O and no grpc, so plans and graphs can be built and checked anywhere; sending a
graph to BuildKit is cogkit.buildkit's job.
"""

from cogkit.llb.definition import Definition, GraphVertex
from cogkit.llb.exec import (
    BindMount,
    CacheMount,
    ExecState,
    SecretMount,
    TmpfsMount,
    bind,
    cache,
    secret,
    tmpfs,
)
from cogkit.llb.fileop import DOCKERFILE_COPY_DEFAULTS, FileAction, copy, mkdir, mkfile, rm
from cogkit.llb.graph_errors import GraphError
from cogkit.llb.marshal import marshal
from cogkit.llb.merge import diff, merge
from cogkit.llb.platform import Platform, host_platform
from cogkit.llb.reference import normalize_image_ref
from cogkit.llb.source import image, local
from cogkit.llb.state import State, scratch

__all__ = [
    "DOCKERFILE_COPY_DEFAULTS",
    "BindMount",
    "CacheMount",
    "Definition",
    "ExecState",
    "FileAction",
    "GraphError",
    "GraphVertex",
    "Platform",
    "SecretMount",
    "State",
    "TmpfsMount",
    "bind",
    "cache",
    "copy",
    "diff",
    "host_platform",
    "image",
    "local",
    "marshal",
    "merge",
    "mkdir",
    "mkfile",
    "normalize_image_ref",
    "rm",
    "scratch",
    "secret",
    "tmpfs",
]
