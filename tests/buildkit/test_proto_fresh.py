"""The committed generated modules must be exactly what scripts/gen_proto.sh produces from proto/."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The graph's op messages (no gRPC stubs) and the BuildKit client's APIs (with stubs).
PB_DIRS = [Path("cogkit") / "llb" / "pb", Path("cogkit") / "buildkit" / "pb"]


def _generated_names(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir() if p.name.endswith((".py", ".pyi"))}


def test_generated_modules_match_protos(tmp_path: Path) -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "gen_proto.sh"), str(tmp_path)], check=True)
    for pb in PB_DIRS:
        fresh = tmp_path / pb
        committed = ROOT / pb
        fresh_names = _generated_names(fresh)
        committed_names = _generated_names(committed)
        assert fresh_names == committed_names, (
            f"{pb}: generated set differs: missing {sorted(fresh_names - committed_names)}, "
            f"extra {sorted(committed_names - fresh_names)}; run scripts/gen_proto.sh"
        )
        stale = [n for n in sorted(fresh_names) if not filecmp.cmp(fresh / n, committed / n, shallow=False)]
        assert not stale, f"{pb}: stale generated modules {stale}; run scripts/gen_proto.sh"


@pytest.mark.parametrize("pb", PB_DIRS, ids=str)
def test_every_proto_has_a_module(pb: Path) -> None:
    protos = {p.stem for p in (ROOT / "proto" / pb).glob("*.proto")}
    modules = {p.name.removesuffix("_pb2.py") for p in (ROOT / pb).glob("*_pb2.py")}
    assert protos == modules


def test_graph_package_has_no_grpc_stubs() -> None:
    """cogkit.llb is the pure graph: its generated modules are messages only."""
    assert not list((ROOT / PB_DIRS[0]).glob("*_grpc.py"))
