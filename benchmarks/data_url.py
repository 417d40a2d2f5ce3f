"""Data-URL input decoding: cogkit's strict decoder vs the lenient one Cog 0.16 uses.

cogkit rejects a base64 body that is not base64 (issue 14) instead of dropping the bad characters,
and does it in one strict C pass (binascii.a2b_base64(strict_mode=True)); the peer is
base64.b64decode(payload) as Cog's File/Path validation calls it. Both decode the same payload,
in alternating rounds (peer, cogkit, peer, ...), and the medians are reported.

Usage: .venv/bin/python benchmarks/data_url.py [--mib 8 64] [--rounds 9]
Results go to benchmarks/results/data_url-<time>.{json,md}.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


def _time(fn, payload: str) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn(payload)
    return time.perf_counter() - started


def main() -> int:
    from cogkit.runtime.files import _strict_b64decode

    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    rows = []
    for mib in args.mib:
        raw = os.urandom(mib << 20)
        payload = base64.b64encode(raw).decode("ascii")
        assert _strict_b64decode(payload) == raw == base64.b64decode(payload)
        peer, ours = [], []
        for _ in range(args.rounds):
            peer.append(_time(base64.b64decode, payload))
            ours.append(_time(_strict_b64decode, payload))
        rows.append({"mib": mib, "cog_lenient_ms": round(statistics.median(peer) * 1000, 1),
                     "cogkit_strict_ms": round(statistics.median(ours) * 1000, 1), "rounds": args.rounds})
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    machine = f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    (RESULTS / f"data_url-{stamp}.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    lines = [f"# data URL decoding ({machine})", "", "| MiB | Cog 0.16 lenient (ms) | cogkit strict (ms) |",
             "|---|---|---|"]
    lines += [f"| {r['mib']} | {r['cog_lenient_ms']} | {r['cogkit_strict_ms']} |" for r in rows]
    (RESULTS / f"data_url-{stamp}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
