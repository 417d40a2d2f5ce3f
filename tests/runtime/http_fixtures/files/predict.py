"""File in, file out: reports the input file's name and size, returns `size` bytes as a file."""

import os
import tempfile

from cog import BasePredictor, Input, Path


class Predictor(BasePredictor):
    def predict(
        self,
        size: int = Input(default=16, ge=0),
        file: Path = Input(default=None, description="optional input file"),
    ) -> Path:
        if file is not None:
            print(f"input {os.path.basename(str(file))} {os.path.getsize(file)} {file.read_bytes()[:32]!r}")
        out = Path(tempfile.mkdtemp()) / "out.txt"
        with open(out, "wb") as fh:
            fh.write(b"a" * size)
        print(f"output at {out}")
        return out
