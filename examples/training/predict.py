import json

from cog import BasePredictor, Input, Path


class Predictor(BasePredictor):
    def setup(self, weights: Path | None = None) -> None:
        """`weights` is COG_WEIGHTS (a URL or path) if set, else ./weights if present, else None."""
        self.offset = json.loads(Path(weights).read_text())["offset"] if weights else 0

    def predict(self, x: int = Input(description="A number")) -> int:
        return x + self.offset
