"""The issue's predictor: returns the contents of the file it is given (and of optional/list files)."""

from typing import List, Optional

from cog import BasePredictor, Input, Path


class Predictor(BasePredictor):
    def predict(
        self,
        f: Path = Input(description="a file the model reads"),
        fs: List[Path] = Input(default=None, description="more files"),
        maybe: Optional[Path] = None,
    ) -> str:
        parts = [open(f, errors="replace").read()]
        for extra in fs or []:
            parts.append(open(extra, errors="replace").read())
        if maybe is not None:
            parts.append(open(maybe, errors="replace").read())
        return "|".join(parts)
