"""BuildKit-native core: the LLB graph builder and the BuildKit client (see docs/contracts.md)."""

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
from cogkit.llb.merge import merge
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

# -- BuildKit client (transport, gateway build, session, progress) --------------------------------
from cogkit.llb.address import BuilderAddress, TLSConfig, parse_address, resolve_address  # noqa: E402
from cogkit.llb.client import BuildReport, Client, VertexSummary, connect  # noqa: E402
from cogkit.llb.exporters import (  # noqa: E402
    CacheEntry,
    DockerTarExporter,
    ImageExporter,
    MobyExporter,
    TarExporter,
)
from cogkit.llb.gateway import BuildResult, Gateway  # noqa: E402
from cogkit.llb.session.patterns import PatternMatcher, read_dockerignore  # noqa: E402
from cogkit.llb.session.secrets import SecretSource  # noqa: E402

__all__ += [
    "BuildReport",
    "BuildResult",
    "BuilderAddress",
    "CacheEntry",
    "Client",
    "DockerTarExporter",
    "Gateway",
    "ImageExporter",
    "MobyExporter",
    "PatternMatcher",
    "SecretSource",
    "TLSConfig",
    "TarExporter",
    "VertexSummary",
    "connect",
    "parse_address",
    "read_dockerignore",
    "resolve_address",
]
