"""Cog's managed weights (`cog weights import|pull|status`, Cog 0.19.3+): OCI weight artifacts + weights.lock.

cog.yaml lists `weights: [{name, target, source}]` beside `model: HOST/owner/name`. Import hashes the
source files into a local content-addressed store, packs them as Cog does (files under 64 MiB in
tar+gzip layers of at most 256 MiB, larger files one plain tar layer each, deterministic headers),
pushes one artifact per weight into the model repository (tag `cog-weight.<name>.<12 hex>`) and
records everything in weights.lock. Pull refills the store from the registry; status compares the
three. The formats (media types, annotations, set digest, lockfile keys) are Cog's.
"""

from __future__ import annotations

import contextlib
import fnmatch
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import yaml

from cogkit.errors import CogkitError

if TYPE_CHECKING:
    from cogkit.model.modelref import ModelRef

LOCKFILE = "weights.lock"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
ARTIFACT_TYPE = "application/vnd.cog.weight.v1"
CONFIG_TYPE = "application/vnd.cog.weight.config.v1+json"
LAYER_TAR = "application/vnd.cog.weight.layer.v1.tar"
LAYER_TAR_GZIP = "application/vnd.cog.weight.layer.v1.tar+gzip"
BUNDLE_LIMIT = 64 << 20  # files below this are bundled
LAYER_LIMIT = 256 << 20  # a bundle layer's most
_NAME = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*$")


class WeightsError(CogkitError):
    """cog.yaml's weights, the lockfile or the store are not usable as they are."""


@dataclass
class Source:
    uri: str
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    fingerprint: str = ""  # a remote source's (etag:…, commit:…, sha256:…), known once it is read


@dataclass
class Weight:
    name: str
    target: str
    sources: list[Source]


@dataclass
class WeightFile:
    path: str  # inside the weight (relative to its target)
    size: int
    digest: str  # sha256:<hex>
    local: Path | None = None  # where it was read from on import
    layer: str = ""


@dataclass
class Project:
    directory: Path
    model: str  # registry/repo (cog.yaml `model:` with the COG_MODEL* overrides applied)
    weights: list[Weight]
    ref: ModelRef | None = None  # the resolved reference, tag or digest included (cogkit.model.modelref)


def store_dir() -> Path:
    """Cog's cache location: $COG_CACHE_DIR, else $XDG_CACHE_HOME/cog, else ~/.cache/cog; sub-dir weights."""
    base = os.environ.get("COG_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = os.path.join(xdg, "cog") if xdg else os.path.expanduser("~/.cache/cog")
    return Path(base) / "weights"


def _store_path(digest: str) -> Path:
    algo, _, hexdigest = digest.partition(":")
    return store_dir() / "files" / algo / hexdigest


# ------------------------------------------------------------------------------------ cog.yaml


def load_project(config_file: str | os.PathLike[str] | None) -> Project:
    from cogkit.config.loader import find_config
    from cogkit.model import modelref

    path = find_config(Path.cwd(), config_file)
    data = yaml.safe_load(path.read_text()) or {}
    entries = data.get("weights")
    model = str(data.get("model") or "")
    if not entries:
        return Project(path.parent, model, [])
    if any(c in model.rsplit("/", 1)[-1] for c in ":@"):
        raise WeightsError(
            f'invalid model "{model}": must be a bare repository — tags and digests are not allowed',
            hint="drop the :tag / @digest (COG_MODEL_TAG or COG_MODEL give the tag)",
        )
    ref = modelref.resolve(str(data.get("image") or ""), model)
    if ref is None:
        which = "image" if data.get("image") else "model"
        raise WeightsError(
            f"invalid {which}: weights require 'model' in cog.yaml",
            hint="add model: HOST/owner/name (the repository the weights and image go to), or set COG_MODEL",
        )
    weights = [_weight(i, e) for i, e in enumerate(entries)]
    _check_unique(weights)
    return Project(path.parent, ref.repository, weights, ref)


def _weight(index: int, entry: Any) -> Weight:
    where = f"weights[{index}]"
    if not isinstance(entry, dict):
        raise WeightsError(f"{where} must be a mapping of name, target, source", hint="see cog weights docs")
    unknown = set(entry) - {"name", "target", "source"}
    if unknown:
        raise WeightsError(
            f"{where}: Additional property {sorted(unknown)[0]} is not allowed",
            hint="use name, target, source",
        )
    name = str(entry.get("name") or "")
    if not name:
        raise WeightsError(f"{where}: name is required", hint='e.g. name: "my-model-weights"')
    if not _NAME.match(name):
        raise WeightsError(
            f'{where}: invalid name "{name}": must contain only lowercase alphanumeric characters, hyphens, '
            'dots, or underscores (e.g. "my-model-weights")',
            hint="rename it",
        )
    target = str(entry.get("target") or "")
    if not target.startswith("/"):
        raise WeightsError(f"{where}: target must be an absolute path", hint="e.g. target: /src/weights")
    if target.rstrip("/") == "":
        raise WeightsError(f'{where}: target must not be the container root "/"', hint="pick a directory")
    raw = entry.get("source")
    if raw is None or raw == []:
        raise WeightsError(f"{where}: source is required", hint="e.g. source: ./weights")
    sources = [_source(s) for s in (raw if isinstance(raw, list) else [raw])]
    return Weight(name, target.rstrip("/"), sources)


def _source(raw: Any) -> Source:
    from cogkit.model import weight_sources

    source = None
    if isinstance(raw, str):
        source = Source(raw)
    elif isinstance(raw, dict) and raw.get("uri"):
        source = Source(str(raw["uri"]), list(raw.get("include") or []), list(raw.get("exclude") or []))
    if source is not None:
        if weight_sources.is_remote(source.uri):
            weight_sources.validate(source.uri)
        return source
    raise WeightsError(
        "a weight source must be a path/URI or {uri, include, exclude}", hint="e.g. source: ./weights"
    )


def _check_unique(weights: list[Weight]) -> None:
    names: set[str] = set()
    targets: list[str] = []
    for w in weights:
        if w.name in names:
            raise WeightsError(f'duplicate weight name "{w.name}"', hint="give each weight its own name")
        names.add(w.name)
        for other in targets:
            if w.target == other:
                raise WeightsError(
                    f'duplicate weight target "{w.target}"', hint="give each weight its own target"
                )
            if w.target.startswith(other + "/") or other.startswith(w.target + "/"):
                raise WeightsError(
                    f'target overlaps with "{other}"; weight targets must be disjoint',
                    hint="use sibling dirs",
                )
        targets.append(w.target)


# ------------------------------------------------------------------------------------ files


def _source_dir(project: Path, uri: str) -> Path:
    local = uri[len("file://") :] if uri.startswith("file://") else uri
    path = (project / local).resolve()
    if not path.exists():
        raise WeightsError(f"weight source {uri} does not exist", hint="check the path in cog.yaml")
    return path


def _matches(rel: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(Path(rel).name, p) for p in patterns)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def collect_files(project: Path, weight: Weight) -> list[WeightFile]:
    """Every file of the weight's sources, hashed, sorted by path; symlinks and .cog/ refused as in Cog."""
    from cogkit.model import weight_sources

    files: dict[str, WeightFile] = {}
    for source in weight.sources:
        if weight_sources.is_remote(source.uri):  # https:// or hf://: downloaded into the store
            remote, source.fingerprint = weight_sources.fetch(source.uri, _store_path, store_dir() / "tmp")
            for item in remote:
                if item.path == ".cog" or item.path.startswith(".cog/"):
                    raise WeightsError(
                        f"weight {weight.name}: source contains a .cog directory", hint="remove it"
                    )
                if (source.include and not _matches(item.path, source.include)) or _matches(
                    item.path, source.exclude
                ):
                    continue
                files[item.path] = WeightFile(item.path, item.size, item.digest, item.local)
            continue
        root = _source_dir(project, source.uri)
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*"))
        for path in paths:
            rel = path.name if root.is_file() else path.relative_to(root).as_posix()
            if rel == ".cog" or rel.startswith(".cog/"):
                raise WeightsError(
                    f"weight {weight.name}: source contains a .cog directory", hint="remove it"
                )
            if path.is_symlink():
                raise WeightsError(f"weight {weight.name}: {rel} is a symlink", hint="copy the file instead")
            if path.is_dir():
                continue
            if (source.include and not _matches(rel, source.include)) or _matches(rel, source.exclude):
                continue
            files[rel] = WeightFile(rel, path.stat().st_size, _sha256(path), path)
    if not files:
        raise WeightsError(
            f"weight {weight.name}: its sources hold no files", hint="check source: and include:"
        )
    return [files[k] for k in sorted(files)]


def set_digest(files: list[WeightFile]) -> str:
    """Cog's set digest: sha256 over sorted `<hex>  <path>` lines (`sha256sum | sort | sha256sum`)."""
    lines = sorted(f"{f.digest.partition(':')[2]}  {f.path}" for f in files)
    return "sha256:" + hashlib.sha256(("\n".join(lines) + "\n").encode()).hexdigest()


# ------------------------------------------------------------------------------------ packing


def _tar_bytes(files: list[WeightFile]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for f in files:
            parts = f.path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                    tar.addfile(info)
            info = tarfile.TarInfo(f.path)
            info.size, info.mode, info.mtime = f.size, 0o644, 0
            with (f.local or _store_path(f.digest)).open("rb") as fh:
                tar.addfile(info, fh)
    return buf.getvalue()


def pack(files: list[WeightFile]) -> list[tuple[str, bytes, int]]:
    """Layers as (media type, blob, uncompressed size); each file's `layer` is set to its layer digest."""
    groups: list[tuple[bool, list[WeightFile]]] = []
    bundle: list[WeightFile] = []
    bundled = 0
    for f in files:
        if f.size >= BUNDLE_LIMIT:
            groups.append((False, [f]))
            continue
        if bundle and bundled + f.size > LAYER_LIMIT:
            groups.append((True, bundle))
            bundle, bundled = [], 0
        bundle.append(f)
        bundled += f.size
    if bundle:
        groups.append((True, bundle))
    layers = []
    for compress, members in groups:
        raw = _tar_bytes(members)
        blob = gzip.compress(raw, mtime=0) if compress else raw
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        for f in members:
            f.layer = digest
        layers.append((LAYER_TAR_GZIP if compress else LAYER_TAR, blob, len(raw)))
    return layers


def tag_for(name: str, digest: str) -> str:
    return f"cog-weight.{re.sub(r'[^a-zA-Z0-9_.-]', '-', name)}.{digest.partition(':')[2][:12]}"


# ------------------------------------------------------------------------------------ lockfile


def read_lock(project: Path) -> dict[str, Any]:
    path = project / LOCKFILE
    if not path.exists():
        return {"version": 1, "weights": []}
    data = json.loads(path.read_text())
    if data.get("version") != 1:
        raise WeightsError(
            f"unsupported weights.lock version {data.get('version')} (want 1)", hint="re-import"
        )
    return data


def write_lock(project: Path, data: dict[str, Any]) -> None:
    data["weights"] = sorted(data["weights"], key=lambda w: w["name"])
    tmp = project / (LOCKFILE + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(project / LOCKFILE)


def _sources_json(weight: Weight, fingerprint: str) -> list[dict[str, Any]]:
    return [
        {"uri": s.uri, "fingerprint": s.fingerprint or fingerprint, "include": s.include,
         "exclude": s.exclude}
        for s in weight.sources
    ]


def _config_changes(weight: Weight, entry: dict[str, Any]) -> list[str]:
    changes = []
    if entry.get("target") != weight.target:
        changes.append("target")
    old = [(s.get("uri"), s.get("include") or [], s.get("exclude") or []) for s in entry.get("sources") or []]
    if old != [(s.uri, s.include, s.exclude) for s in weight.sources]:
        changes.append("source")
    return changes


# ------------------------------------------------------------------------------------ commands


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1000
    return f"{size}B"


def _selected(project: Project, names: list[str]) -> list[Weight]:
    known = {w.name for w in project.weights}
    for n in names:
        if n not in known:
            raise WeightsError(
                f'no weight named "{n}" in cog.yaml', hint=f"weights: {', '.join(sorted(known))}"
            )
    return [w for w in project.weights if not names or w.name in names]


def _warn(out: TextIO) -> None:
    print("NOTE: cogkit weights is experimental, as Cog's. Behavior may change in future versions.", file=out)


def import_weights(
    config_file: str | None, names: list[str], dry_run: bool, verbose: bool, out: TextIO
) -> int:
    from cogkit.docker.oci_registry import Repository

    _warn(out)
    project = load_project(config_file)
    if not project.weights:
        print("no weights defined in cog.yaml", file=out)
        return 0
    lock = read_lock(project.directory)
    by_name = {w["name"]: w for w in lock["weights"]}
    plans = []
    for weight in _selected(project, names):
        files = collect_files(project.directory, weight)
        digest = set_digest(files)
        old = by_name.get(weight.name)
        if old is None:
            icon, status = "+", "new"
        elif old.get("setDigest") == digest and not _config_changes(weight, old):
            icon, status = "=", "unchanged"
        else:
            icon, status = "~", "changed"
        print(f"{icon} {weight.name}  {', '.join(s.uri for s in weight.sources)} → {weight.target}", file=out)
        print(f"  status: {status}", file=out)
        print(f"  files: {len(files)}  size: {_human(sum(f.size for f in files))}", file=out)
        if verbose:
            for f in files:
                print(f"    + {f.path}", file=out)
        plans.append((weight, files, digest))
    if dry_run:
        return 0
    repo = Repository.parse(project.model)
    print(f"Building {len(plans)} weight(s)...", file=out)
    total = 0
    for weight, files, digest in plans:
        for f in files:  # warm the store: pull and later runs find the files by content
            target = _store_path(f.digest)
            if not target.exists() and f.local is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(f.local, target)
        layers = pack(files)
        config = {
            "name": weight.name,
            "target": weight.target,
            "setDigest": digest,
            "files": [{"path": f.path, "layer": f.layer, "size": f.size, "digest": f.digest} for f in files],
        }
        config_blob = json.dumps(config, separators=(",", ":")).encode()
        config_digest = "sha256:" + hashlib.sha256(config_blob).hexdigest()
        descriptors = []
        for media_type, blob, uncompressed in layers:
            layer_digest = "sha256:" + hashlib.sha256(blob).hexdigest()
            repo.push_blob(layer_digest, data=blob)
            descriptors.append({
                "mediaType": media_type, "digest": layer_digest, "size": len(blob),
                "annotations": {"run.cog.weight.size.uncompressed": str(uncompressed)},
            })  # fmt: skip
        repo.push_blob(config_digest, data=config_blob)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": len(config_blob)},
            "layers": descriptors,
            "annotations": {
                "run.cog.weight.name": weight.name,
                "run.cog.weight.target": weight.target,
                "run.cog.weight.set-digest": digest,
            },
        }
        tag = tag_for(weight.name, digest)
        manifest_digest = repo.push_manifest(tag, manifest, MANIFEST_TYPE)
        size = sum(f.size for f in files)
        total += size
        by_name[weight.name] = {
            "name": weight.name,
            "target": weight.target,
            "sources": _sources_json(weight, digest),
            "importedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "digest": manifest_digest,
            "setDigest": digest,
            "size": size,
            "sizeCompressed": sum(d["size"] for d in descriptors),
            "files": [{"path": f.path, "size": f.size, "digest": f.digest, "layer": f.layer} for f in files],
            "layers": sorted(
                (
                    {
                        "digest": d["digest"],
                        "mediaType": d["mediaType"],
                        "size": d["size"],
                        "sizeUncompressed": int(d["annotations"]["run.cog.weight.size.uncompressed"]),
                    }
                    for d in descriptors
                ),
                key=lambda layer: layer["digest"],
            ),  # fmt: skip
        }
        print(f"  {weight.name}: {project.model}:{tag}", file=out)
    current = {w.name for w in project.weights}
    lock["weights"] = [w for n, w in by_name.items() if n in current]  # entries removed from cog.yaml go
    lock.setdefault("envelopeFormat", "oci-artifact")
    write_lock(project.directory, lock)
    print(f"Imported {len(plans)} weight artifact(s) to {project.model}", file=out)
    print(f"Total: {_human(total)}", file=out)
    return 0


def _link_or_copy(source: Path, target: Path) -> None:
    tmp = target.with_name(target.name + ".tmp")
    try:
        os.link(source, tmp)
    except OSError:
        import shutil

        shutil.copyfile(source, tmp)
    tmp.replace(target)


def pull_weights(config_file: str | None, names: list[str], out: TextIO) -> int:
    from cogkit.docker.oci_registry import Repository

    _warn(out)
    project = load_project(config_file)
    if not project.weights:
        print("no weights defined in cog.yaml", file=out)
        return 0
    lock = {w["name"]: w for w in read_lock(project.directory)["weights"]}
    repo = Repository.parse(project.model)
    pulled_bytes = pulled_files = pulled_layers = cached = 0
    selected = _selected(project, names)
    for weight in selected:
        entry = lock.get(weight.name)
        if entry is None:
            raise WeightsError(
                f'weight "{weight.name}" is not in weights.lock', hint="run `cogkit weights import` first"
            )
        missing = [f for f in entry["files"] if not _store_path(f["digest"]).exists()]
        if not missing:
            print(
                f"Pulling {weight.name}... cached ({len(entry['files'])}/{len(entry['files'])} files)",
                file=out,
            )
            cached += 1
            continue
        print(f"Pulling {weight.name}... ({len(missing)} file(s))", file=out)
        layers = {layer["digest"]: layer for layer in entry["layers"]}
        wanted = {f["path"]: f for f in missing}
        size = 0
        for digest in sorted({f["layer"] for f in missing}):
            size += _extract_layer(repo, digest, layers[digest]["mediaType"], wanted)
            pulled_layers += 1
        pulled_bytes += size
        pulled_files += len(missing)
        print(f"Pulling {weight.name}... done ({_human(size)}, {len(missing)} file(s), "
              f"{len({f['layer'] for f in missing})} layer(s))", file=out)  # fmt: skip
    if cached == len(selected):
        print(f"All {cached} weight(s) already cached.", file=out)
    else:
        print(f"Pulled {_human(pulled_bytes)} across {pulled_files} file(s) / {pulled_layers} layer(s) for "
              f"{len(selected) - cached} weight(s); {cached} already cached.", file=out)  # fmt: skip
    return 0


def _extract_layer(repo: Any, digest: str, media_type: str, wanted: dict[str, dict[str, Any]]) -> int:
    """Download one layer (verified against its digest), put the wanted files into the store."""
    with tempfile.TemporaryFile() as spool:
        h = hashlib.sha256()
        for chunk in repo.blob_stream(digest):
            h.update(chunk)
            spool.write(chunk)
        if "sha256:" + h.hexdigest() != digest:
            raise WeightsError(f"layer {digest[:19]} does not match its digest", hint="pull again")
        spool.seek(0)
        mode = "r:gz" if media_type.endswith("gzip") else "r:"
        size = 0
        with tarfile.open(fileobj=spool, mode=mode) as tar:
            for member in _members(tar):
                want = wanted.get(member.name)
                if want is None or not member.isfile():
                    continue
                data = tar.extractfile(member)
                assert data is not None
                target = _store_path(want["digest"])
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(target.name + ".tmp")
                fh = hashlib.sha256()
                with tmp.open("wb") as w:
                    while chunk := data.read(1 << 20):
                        fh.update(chunk)
                        w.write(chunk)
                if "sha256:" + fh.hexdigest() != want["digest"]:
                    tmp.unlink()
                    raise WeightsError(
                        f"{member.name} does not match weights.lock", hint="re-import the weight"
                    )
                tmp.replace(target)
                size += member.size
    return size


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    yield from tar


def check_drift(config_file: str | os.PathLike[str] | None) -> Project:
    """Cog's drift gate for run/serve/train: cog.yaml's weights must match weights.lock first."""
    project = load_project(config_file)
    if not project.weights:
        return project
    lock = {w["name"]: w for w in read_lock(project.directory)["weights"]}
    problems = []
    for weight in project.weights:
        entry = lock.get(weight.name)
        if entry is None:
            problems.append(f'"{weight.name}": not imported yet')
        elif changes := _config_changes(weight, entry):
            problems.append(f'"{weight.name}": config changed ({", ".join(changes)})')
    names = {w.name for w in project.weights}
    problems += [f'"{n}": removed from cog.yaml but still in lockfile' for n in lock if n not in names]
    if problems:
        raise WeightsError(
            "weights.lock is out of sync with cog.yaml: " + "; ".join(problems),
            hint="run `cogkit weights import` to update",
        )
    return project


@contextlib.contextmanager
def weight_mounts(project: Project) -> Iterator[list[tuple[str, str, str]]]:
    """Each locked weight hard-linked from the store into .cog/mounts/<id>/<name>, mounted read-only at
    its target (as Cog's Manager.Prepare); the directory goes when the run ends."""
    if not project.weights:
        yield []
        return
    import shutil
    import uuid

    lock = {w["name"]: w for w in read_lock(project.directory)["weights"]}
    root = project.directory / ".cog" / "mounts" / uuid.uuid4().hex[:12]
    try:
        volumes = []
        for weight in project.weights:
            directory = root / weight.name
            for f in lock[weight.name]["files"]:
                stored = _store_path(f["digest"])
                if not stored.exists():
                    raise WeightsError(
                        f'weight "{weight.name}" is not fully cached locally (missing {f["path"]})',
                        hint="run `cogkit weights pull` first",
                    )
                target = directory / f["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(stored, target)
            volumes.append((str(directory), weight.target, "ro"))
        yield volumes
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _local_target(project: Project, target: str) -> Path:
    """Where --local puts a weight: its target itself; one under /src (the project in the image) is
    the same place relative to the project directory, which is the model's cwd there as in the image."""
    if target == "/src" or target.startswith("/src/"):
        return project.directory / target[len("/src/") :]
    return Path(target)


@contextlib.contextmanager
def local_weights(config_file: str | os.PathLike[str] | None) -> Iterator[list[Path]]:
    """--local runs see their managed weights at the weight's target, as a container does (Cog mounts
    each at `target`, pkg/weights/mount.go): the same drift gate, the files hard-linked from the store
    into .cog/mounts/<id>/<name> and made read-only, and the target a symlink to that directory for the
    run. An existing path is never replaced, except the weight's own local source directory, which
    already holds its files. Everything made is removed afterwards."""
    project = check_drift(config_file)
    if not project.weights:
        yield []
        return
    links: list[Path] = []
    parents: list[Path] = []
    with weight_mounts(project) as volumes:
        try:
            for weight, (directory, target, _mode) in zip(project.weights, volumes, strict=True):
                host = _local_target(project, target)
                own = [_source_dir(project.directory, s.uri) for s in weight.sources if "://" not in s.uri]
                if os.path.lexists(host):
                    if host.is_dir() and not host.is_symlink() and host.resolve() in own:
                        continue  # target /src/weights, source ./weights: the files are already there
                    raise WeightsError(
                        f'weight "{weight.name}": {host} already exists, and --local puts the weight there',
                        hint="move it away, or run without --local (a container mounts over it)",
                    )
                for f in Path(directory).rglob("*"):
                    if f.is_file():
                        f.chmod(0o444)  # hard links into the store: the model must not change them
                missing = [p for p in reversed(host.parents) if not p.exists()]
                try:
                    host.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(directory, host, target_is_directory=True)
                except OSError as exc:
                    raise WeightsError(
                        f'weight "{weight.name}": --local cannot create {host} ({exc.strerror})',
                        hint="run as a user who may create it, or give the weight a target under /src",
                    ) from None
                finally:
                    parents.extend(missing)
                links.append(host)
            yield links
        finally:
            for link in links:
                with contextlib.suppress(OSError):
                    link.unlink()
            for parent in reversed(parents):
                with contextlib.suppress(OSError):
                    parent.rmdir()  # only if it is still empty


def weights_status(config_file: str | None, as_json: bool, out: TextIO, stdout: TextIO) -> int:
    from cogkit.docker.oci_registry import Repository
    from cogkit.model import weight_sources

    project = load_project(config_file)
    lock = {w["name"]: w for w in read_lock(project.directory)["weights"]}
    repo = Repository.parse(project.model) if project.weights else None
    rows = []
    for weight in project.weights:
        entry = lock.get(weight.name)
        if entry is None:
            rows.append({"name": weight.name, "target": weight.target, "status": "pending"})
            continue
        if any(weight_sources.is_remote(s.uri) for s in weight.sources):
            digest = entry.get("setDigest")  # status reads no remote source: config drift only, as Cog's
        else:
            digest = set_digest(collect_files(project.directory, weight))
        layers = [{"digest": layer["digest"], "size": layer["size"],
                   "status": "ready" if repo and repo.has_blob(layer["digest"]) else "missing"}
                  for layer in entry["layers"]]  # fmt: skip
        if _config_changes(weight, entry) or digest != entry.get("setDigest"):
            status = "stale"
        elif any(layer["status"] == "missing" for layer in layers):
            status = "incomplete"
        else:
            status = "ready"
        rows.append({
            "name": weight.name, "target": weight.target, "status": status, "size": entry["size"],
            "sizeCompressed": entry["sizeCompressed"], "layerCount": len(layers),
            "fileCount": len(entry["files"]), "digest": entry["digest"],
            "source": {"uri": entry["sources"][0]["uri"], "fingerprint": entry["sources"][0]["fingerprint"]},
            "layers": layers,
        })  # fmt: skip
    for name, entry in lock.items():
        if name not in {w.name for w in project.weights}:
            rows.append({"name": name, "target": entry.get("target"), "status": "orphaned"})
    if as_json:
        stdout.write(json.dumps({"weights": rows}, indent=2) + "\n")
    else:
        for row in rows:
            print(f"{row['name']}  {row['status']}  {row['target']}", file=stdout)
    return 0 if all(r["status"] == "ready" for r in rows) else 1


INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
_IMAGE_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


def bundle_tags(project: Project, positional: str | None) -> tuple[str, str]:
    """(image ref `<model>:cog-image.<tag>`, index tag): `cogkit push` of a project with managed weights."""
    if positional:
        raise WeightsError(
            "positional image argument not supported with 'model' config",
            hint="set COG_MODEL (the full reference) or COG_MODEL_TAG (default: a UTC timestamp tag)",
        )
    ref = project.ref
    assert ref is not None  # a project with weights always has one (load_project)
    if ref.digest:
        raise WeightsError(
            f'cannot push to digest-pinned ref "{ref}": model push requires a tag',
            hint="give COG_MODEL a :tag instead of an @digest",
        )
    return f"{ref.repository}:cog-image.{ref.tag}", ref.tag


def check_weights_pushed(project: Project) -> list[dict[str, Any]]:
    """Cog's push gate: every locked weight's manifest is already in the model repository."""
    from cogkit.docker.oci_registry import Repository

    repo = Repository.parse(project.model)
    entries = read_lock(project.directory)["weights"]
    for entry in entries:
        if not entry.get("digest"):
            raise WeightsError(
                f'weight "{entry["name"]}": missing manifest digest in lockfile',
                hint="re-run `cogkit weights import`",
            )
        if not repo.has_manifest(entry["digest"], MANIFEST_TYPE):
            raise WeightsError(
                f'weight "{entry["name"]}" not found in registry ({project.model}@{entry["digest"]})',
                hint="run `cogkit weights import` to push weights first",
            )
    return entries


def push_bundle(project: Project, image_ref: str, image_digest: str, tag: str, out: TextIO) -> str:
    """The OCI index at `<model>:<tag>`: the image (linux/amd64) and one descriptor per weight artifact."""
    from cogkit.docker.oci_registry import Repository

    repo = Repository.parse(project.model)
    entries = check_weights_pushed(project)
    image_manifest: dict[str, Any] | None = None
    media_type = _IMAGE_TYPES[0]
    for candidate in _IMAGE_TYPES:
        try:
            image_manifest = repo.get_manifest(image_digest, candidate)
            media_type = image_manifest.get("mediaType") or candidate
            break
        except CogkitError:
            continue
    if image_manifest is None:
        raise WeightsError(f"cannot read back the pushed image {image_ref}", hint="check the registry")
    raw_size = len(json.dumps(image_manifest, separators=(",", ":")).encode())
    size = repo.manifest_size(image_digest, media_type) or raw_size
    children = [
        {"mediaType": media_type, "digest": image_digest, "size": size,
         "platform": {"architecture": "amd64", "os": "linux"}},
    ]  # fmt: skip
    for entry in entries:
        manifest = repo.get_manifest(entry["digest"], MANIFEST_TYPE)
        children.append({
            "mediaType": MANIFEST_TYPE,
            "artifactType": ARTIFACT_TYPE,
            "digest": entry["digest"],
            "size": repo.manifest_size(entry["digest"], MANIFEST_TYPE) or len(json.dumps(manifest)),
            "platform": {"architecture": "unknown", "os": "unknown"},
            "annotations": {
                "run.cog.weight.name": entry["name"],
                "run.cog.weight.set-digest": entry["setDigest"],
                "run.cog.weight.size.uncompressed": str(entry["size"]),
            },
        })  # fmt: skip
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": children}
    digest = repo.push_manifest(tag, index, INDEX_TYPE)
    print(f"model {project.model}:{tag}", file=out)
    print(f"├─ image {image_ref}", file=out)
    for i, entry in enumerate(entries):
        branch = "└─" if i == len(entries) - 1 else "├─"
        print(f"{branch} weight {entry['name']} {project.model}@{entry['digest']}", file=out)
    return digest
