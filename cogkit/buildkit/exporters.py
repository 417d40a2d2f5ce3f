"""Where a build's result goes, and which cache it reads and writes.

dockerd 20.10's BuildKit only has the `moby` exporter (image straight into Docker's store) and
the `inline` cache exporter; a standalone buildkitd has `image` (optionally pushed) and `docker`
(a tarball streamed back over the session's FileSend).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from cogkit.buildkit.errors import CacheOptionError
from cogkit.errors import CogkitError
from cogkit.llb.reference import normalize_image_ref


@dataclass(frozen=True)
class MobyExporter:
    """dockerd: tag the result in Docker's own image store."""

    names: Sequence[str] = ()
    type: str = field(default="moby", init=False)

    def attrs(self) -> dict[str, str]:
        return {"name": ",".join(self.names)} if self.names else {}

    output_file: str | None = field(default=None, init=False)


@dataclass(frozen=True)
class ImageExporter:
    """Standalone buildkitd: an image in its store, pushed to a registry when `push`."""

    names: Sequence[str] = ()
    push: bool = False
    insecure: bool = False
    type: str = field(default="image", init=False)
    output_file: str | None = field(default=None, init=False)

    def attrs(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.names:
            out["name"] = ",".join(self.names)
        if self.push:
            out["push"] = "true"
        if self.insecure:
            out["registry.insecure"] = "true"
        return out


@dataclass(frozen=True)
class DockerTarExporter:
    """Standalone buildkitd: a `docker load`-able tarball written to `path` via FileSend."""

    path: str
    names: Sequence[str] = ()
    type: str = field(default="docker", init=False)

    @property
    def output_file(self) -> str:
        return os.path.abspath(self.path)

    def attrs(self) -> dict[str, str]:
        return {"name": ",".join(self.names)} if self.names else {}


@dataclass(frozen=True)
class OciTarExporter(DockerTarExporter):
    """The same image as an OCI layout tarball (`--output type=oci,dest=FILE`)."""

    type: str = field(default="oci", init=False)


@dataclass(frozen=True)
class TarExporter:
    """The result's root filesystem as a plain tarball (works on dockerd too, via FileSend)."""

    path: str
    type: str = field(default="tar", init=False)

    @property
    def output_file(self) -> str:
        return os.path.abspath(self.path)

    def attrs(self) -> dict[str, str]:
        return {}


Exporter = MobyExporter | ImageExporter | DockerTarExporter | OciTarExporter | TarExporter


def check_exporter(exporter: Exporter | None, on_docker: bool, exports_images: bool = False) -> None:
    """Refuse combinations the engine cannot do, before a build starts (`exports_images`: see
    Client.exports_images; dockerd's classic image store has only the moby exporter)."""
    if exporter is None:
        return
    if on_docker and not exports_images and isinstance(exporter, ImageExporter | DockerTarExporter):
        raise CogkitError(
            f"this dockerd's BuildKit (classic image store) has no {exporter.type!r} exporter",
            "use MobyExporter (then `docker push`), the containerd image store, or a standalone buildkitd",
        )
    for name in getattr(exporter, "names", ()):
        normalize_image_ref(name)  # raises a GraphError (a CogkitError) naming the bad tag
    out = exporter.output_file
    if out is not None and not os.path.isdir(os.path.dirname(out)):
        raise CogkitError(f"output directory {os.path.dirname(out)} does not exist", "create it first")


@dataclass(frozen=True)
class CacheEntry:
    """One cache import or export: `type=registry,ref=...` / `type=inline`."""

    type: str
    attrs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str | CacheEntry) -> CacheEntry:
        """`ref` alone means a registry ref; otherwise comma-separated key=value with `type`."""
        if isinstance(spec, CacheEntry):
            return spec
        text = spec.strip()
        if "=" not in text:
            if not text:
                raise CogkitError("empty cache option", "use type=registry,ref=IMAGE or type=inline")
            return cls("registry", {"ref": text})
        fields = key_values(text, f"malformed cache option {spec!r}", "use key=value pairs, e.g. type=inline")
        kind = fields.pop("type", "registry" if "ref" in fields else "")
        if not kind:
            raise CogkitError(f"cache option {spec!r} has no type", "add type=registry or type=inline")
        return cls(kind, fields)


def key_values(spec: str, malformed: str, hint: str) -> dict[str, str]:
    """`k=v,k=v` as buildx spells its --cache-*/--output options; a part without `=` is `malformed`."""
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise CogkitError(malformed, hint)
        fields[key.strip()] = value.strip()
    return fields


def check_cache(imports: Sequence[CacheEntry], exports: Sequence[CacheEntry], on_docker: bool) -> None:
    """dockerd's classic image store (`on_docker`: 20.10 always) imports registry/local caches but only
    exports inline; with the containerd image store it exports registry caches too."""
    for entry in imports:
        if entry.type == "registry" and not entry.attrs.get("ref"):
            raise CacheOptionError(
                "registry cache import needs ref=IMAGE", "e.g. type=registry,ref=r/x", "import", entry.type
            )
    if on_docker:
        for entry in exports:
            if entry.type != "inline":
                raise CacheOptionError(
                    f"this dockerd (classic image store, e.g. 20.10) cannot export {entry.type!r} cache",
                    "export type=inline, then import the pushed image",
                    "export",
                    entry.type,
                )
