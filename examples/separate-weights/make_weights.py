"""Write weights/model.bin: 64 MiB of deterministic, incompressible bytes (a stand-in for real weights).

Deterministic so every machine builds the same layer digest; incompressible so the size is honest.
"""

import hashlib
import sys
from pathlib import Path

SIZE = 64 * 1024 * 1024
CHUNK = 1024 * 1024


def main() -> None:
    target = Path(__file__).resolve().parent / "weights" / "model.bin"
    target.parent.mkdir(exist_ok=True)
    if target.exists() and target.stat().st_size == SIZE:
        print(f"{target} already exists")
        return
    block = hashlib.sha256(b"cogkit separate-weights example").digest()
    with target.open("wb") as out:
        for i in range(SIZE // CHUNK):
            # SHAKE-256 as a seeded stream: fast, reproducible, no numpy needed.
            out.write(hashlib.shake_256(block + i.to_bytes(8, "big")).digest(CHUNK))
    print(f"wrote {target} ({SIZE // CHUNK} MiB)", file=sys.stderr)


if __name__ == "__main__":
    main()
