"""The committed generated modules must be exactly what scripts/gen_proto.sh produces from proto/."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PB = ROOT / "cogkit" / "llb" / "pb"


def _generated_names(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir() if p.name.endswith((".py", ".pyi"))}


def test_generated_modules_match_protos(tmp_path: Path) -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "gen_proto.sh"), str(tmp_path)], check=True)
    fresh = tmp_path / "cogkit" / "llb" / "pb"
    fresh_names = _generated_names(fresh)
    committed_names = _generated_names(PB)
    assert fresh_names == committed_names, (
        f"generated set differs: missing {sorted(fresh_names - committed_names)}, "
        f"extra {sorted(committed_names - fresh_names)}; run scripts/gen_proto.sh"
    )
    stale = [n for n in sorted(fresh_names) if not filecmp.cmp(fresh / n, PB / n, shallow=False)]
    assert not stale, f"stale generated modules {stale}; run scripts/gen_proto.sh"


def test_every_proto_has_a_module() -> None:
    protos = {p.stem for p in (ROOT / "proto" / "cogkit" / "llb" / "pb").glob("*.proto")}
    modules = {p.name.removesuffix("_pb2.py") for p in PB.glob("*_pb2.py")}
    assert protos == modules
