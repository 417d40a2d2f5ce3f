"""The BuildKit client: transport, gateway solve, session server, progress (see docs/llb-client.md).

It sends graphs from cogkit.llb to a BuildKit daemon; errors carry facts (typed CogkitErrors), and the
command layer adds the hints that name CLI flags.
"""

from cogkit.buildkit.address import BuilderAddress, TLSConfig, parse_address, resolve_address
from cogkit.buildkit.background import PendingConnection
from cogkit.buildkit.client import BuildReport, Client, VertexSummary, connect
from cogkit.buildkit.errors import (
    CacheOptionError,
    EngineUnreachable,
    SecretFileMissing,
    SecretNotFound,
    StepFailed,
)
from cogkit.buildkit.exporters import (
    CacheEntry,
    DockerTarExporter,
    ImageExporter,
    MobyExporter,
    OciTarExporter,
    TarExporter,
)
from cogkit.buildkit.gateway import BuildResult, Gateway
from cogkit.buildkit.session.secrets import SecretSource

__all__ = [
    "BuildReport",
    "BuildResult",
    "BuilderAddress",
    "CacheEntry",
    "CacheOptionError",
    "Client",
    "DockerTarExporter",
    "EngineUnreachable",
    "Gateway",
    "ImageExporter",
    "MobyExporter",
    "OciTarExporter",
    "PendingConnection",
    "SecretFileMissing",
    "SecretNotFound",
    "SecretSource",
    "StepFailed",
    "TLSConfig",
    "TarExporter",
    "VertexSummary",
    "connect",
    "parse_address",
    "resolve_address",
]
