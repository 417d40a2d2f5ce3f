"""File inputs of every shape, for the schemathesis run: whatever a client sends, no 5xx."""

from typing import List, Optional

from cog import BasePredictor, Input, Path


class Predictor(BasePredictor):
    def predict(
        self,
        f: Path = Input(description="one file"),
        fs: List[Path] = Input(default=None, description="a list of files"),
        maybe: Optional[Path] = Input(default=None, description="an optional file"),
    ) -> str:
        sizes = [f.stat().st_size, *(p.stat().st_size for p in fs or [])]
        sizes.append(maybe.stat().st_size if maybe else -1)
        return ",".join(str(s) for s in sizes)
