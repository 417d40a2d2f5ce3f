#!/usr/bin/env python3
"""Regenerate cogkit/config/compat_data.json from public sources.

Sources (each optional: when one is unreachable, the facts already in the file are kept and a
warning is printed, so a partial network still yields a consistent file):
  * torch versions, Python support and torchvision/torchaudio pairing: the PyPI JSON API
    (torchvision X requires torch==Y; Python versions from the wheels' cpXY tags);
  * CUDA variants per torch version: the PyTorch wheel index, download.pytorch.org/whl/torch/
    (file names such as torch-2.1.0+cu121-cp311-cp311-linux_x86_64.whl);
  * tensorflow → CUDA/cuDNN: the "tested build configurations" table on tensorflow.org;
  * nvidia/cuda image tags: Docker Hub's tag list for nvidia/cuda.

Usage: python tools/gen_compat_data.py [--out PATH] [--min-torch 1.11]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "cogkit" / "config" / "compat_data.json"
PYPI = "https://pypi.org/pypi/{name}/json"
TORCH_WHEELS = "https://download.pytorch.org/whl/torch/"
TF_TABLE = "https://www.tensorflow.org/install/source"
HUB_TAGS = "https://hub.docker.com/v2/repositories/nvidia/cuda/tags?page_size=100"


def vkey(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.+]", version.split("+")[0]))


def fetch(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "cogkit-compatgen"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def torch_from_pypi(min_torch: str) -> dict[str, dict[str, Any]]:
    """torch version -> torchvision, torchaudio and the CPython versions it has wheels for."""
    torch = json.loads(fetch(PYPI.format(name="torch")))
    out: dict[str, dict[str, Any]] = {}
    for version, files in torch["releases"].items():
        if not re.fullmatch(r"\d+\.\d+\.\d+", version) or vkey(version) < vkey(min_torch):
            continue
        pythons = sorted(
            {f"{m[0]}.{m[1:]}" for f in files for m in re.findall(r"-cp(3\d+)-", f["filename"])},
            key=vkey,
        )
        if pythons:
            out[version] = {"torchvision": None, "torchaudio": None, "cuda": [], "python": pythons}
    for companion in ("torchvision", "torchaudio"):
        releases = json.loads(fetch(PYPI.format(name=companion)))["releases"]
        for version in sorted(releases, key=vkey):
            if not re.fullmatch(r"\d+\.\d+\.\d+", version):
                continue
            try:
                info = json.loads(fetch(f"https://pypi.org/pypi/{companion}/{version}/json"))["info"]
            except OSError:
                continue  # yanked or removed release
            for dep in info.get("requires_dist") or []:
                match = re.match(r"torch\s*\(?==\s*([\d.]+)\)?", dep)
                if match and match.group(1) in out:
                    out[match.group(1)][companion] = version
    return out


def torch_cuda_variants() -> dict[str, list[str]]:
    """torch version -> CUDA versions (major.minor) with linux wheels on the PyTorch index."""
    page = fetch(TORCH_WHEELS).decode()
    variants: dict[str, set[str]] = defaultdict(set)
    wheel = re.compile(r"torch-(\d+\.\d+\.\d+)(?:%2B|\+)cu(\d+)-[^\"<]*?linux(?:_\d+)*_x86_64")
    for version, tag in wheel.findall(page):
        variants[version].add(f"{tag[:-1]}.{tag[-1]}")
    return {v: sorted(c, key=vkey) for v, c in variants.items()}


def tensorflow_table() -> dict[str, dict[str, Any]]:
    """tensorflow version -> CUDA, cuDNN and Pythons, from the tested-configurations table (Linux GPU)."""
    page = fetch(TF_TABLE).decode()
    out: dict[str, dict[str, Any]] = {}
    row = re.compile(
        r"<tr><td>tensorflow-(\d+\.\d+\.\d+)</td><td>([\d.\-]+)</td>.*?<td>([\d.]+)</td><td>([\d.]+)</td></tr>",
        re.S,
    )
    for version, pythons, cudnn, cuda in row.findall(page):
        low, _, high = pythons.partition("-")
        minors = range(int(low.split(".")[1]), int((high or low).split(".")[1]) + 1)
        out[version] = {"cuda": cuda, "cudnn": cudnn, "python": [f"3.{m}" for m in minors]}
    return out


def cuda_images() -> list[dict[str, Any]]:
    """nvidia/cuda runtime+devel cuDNN tags grouped by CUDA version and cuDNN major."""
    url: str | None = HUB_TAGS
    tags: set[str] = set()
    while url:
        page = json.loads(fetch(url))
        tags |= {item["name"] for item in page["results"]}
        url = page.get("next")
    grouped: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for tag in tags:
        match = re.fullmatch(r"(\d+\.\d+\.\d+)-(cudnn(\d*))-(?:runtime|devel)-ubuntu(\d+\.\d+)", tag)
        if not match:
            continue
        cuda, word, major, ubuntu = match.groups()
        cudnn = major or ("9" if vkey(cuda) >= (12, 4) else "8")
        grouped[(cuda, cudnn, word)].add(ubuntu)
    return [
        {
            "cuda": cuda,
            "cudnn": cudnn,
            "ubuntu": sorted(ubuntus, key=vkey, reverse=True),
            "tag": f"{cuda}-{word}-{{flavor}}-ubuntu{{ubuntu}}",
        }
        for (cuda, cudnn, word), ubuntus in sorted(
            grouped.items(), key=lambda kv: vkey(kv[0][0]), reverse=True
        )
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--min-torch", default="1.11.0")
    args = parser.parse_args()
    current = json.loads(args.out.read_text()) if args.out.exists() else {"torch": {}, "tensorflow": {}}
    data = dict(current)

    try:
        torch = torch_from_pypi(args.min_torch)
        for version, entry in torch.items():
            old = current["torch"].get(version, {})
            entry["cuda"] = old.get("cuda", [])
            entry["torchvision"] = entry["torchvision"] or old.get("torchvision")
            entry["torchaudio"] = entry["torchaudio"] or old.get("torchaudio")
        try:
            for version, cudas in torch_cuda_variants().items():
                if version in torch:
                    torch[version]["cuda"] = cudas
        except OSError as exc:
            warn(f"PyTorch wheel index unreachable ({exc}); keeping known CUDA variants")
        data["torch"] = {v: torch[v] for v in sorted(torch, key=vkey) if torch[v]["cuda"]}
    except OSError as exc:
        warn(f"PyPI unreachable ({exc}); keeping torch data")
    for key, source in (("tensorflow", tensorflow_table), ("cuda_images", cuda_images)):
        try:
            fresh = source()
            if fresh:
                data[key] = {**current.get(key, {}), **fresh} if isinstance(fresh, dict) else fresh
        except OSError as exc:
            warn(f"{key} source unreachable ({exc}); keeping existing data")
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(
        f"wrote {args.out}: {len(data['torch'])} torch, {len(data['tensorflow'])} tensorflow, "
        f"{len(data['cuda_images'])} cuda image versions"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
