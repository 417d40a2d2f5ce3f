"""OCI platforms as BuildKit expects them in Op.platform, normalised like containerd's platforms."""

from __future__ import annotations

import platform as _host
from dataclasses import dataclass

from cogkit.llb.graph_errors import GraphError
from cogkit.llb.pb import ops_pb2

# containerd platforms.Normalize: architecture aliases -> (architecture, default variant).
_ARCH_ALIASES: dict[str, tuple[str, str]] = {
    "x86_64": ("amd64", ""),
    "x86-64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", ""),
    "arm64": ("arm64", ""),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
    "arm": ("arm", "v7"),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "386": ("386", ""),
}


@dataclass(frozen=True, order=True)
class Platform:
    """An OS/architecture/variant triple such as linux/amd64 or linux/arm/v7."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, spec: str | Platform) -> Platform:
        """Parse "os/arch[/variant]" (as docker --platform takes it) and normalise it."""
        if isinstance(spec, Platform):
            return spec.normalized()
        parts = spec.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise GraphError(
                f"invalid platform {spec!r}",
                hint="write it as os/architecture[/variant], for example linux/amd64",
            )
        return cls(*parts).normalized()

    def normalized(self) -> Platform:
        """Apply containerd's aliases: x86_64 -> amd64, aarch64 -> arm64 (variant v8 dropped), arm -> v7."""
        arch, default_variant = _ARCH_ALIASES.get(self.architecture, (self.architecture, ""))
        variant = self.variant or default_variant
        if arch == "arm64" and variant == "v8":
            variant = ""
        if arch == "amd64" and variant == "v1":
            variant = ""
        return Platform(self.os.lower(), arch, variant)

    def to_pb(self) -> ops_pb2.Platform:
        return ops_pb2.Platform(OS=self.os, Architecture=self.architecture, Variant=self.variant)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def host_platform() -> Platform:
    """The client's own platform, normalised; Go's llb defaults Op.platform to this (always linux OS)."""
    return Platform("linux", _host.machine().lower() or "amd64").normalized()
