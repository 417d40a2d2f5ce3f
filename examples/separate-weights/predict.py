import hashlib
from pathlib import Path

from cog import BasePredictor, Input

WEIGHTS = Path(__file__).resolve().parent / "weights" / "model.bin"


class Predictor(BasePredictor):
    def setup(self) -> None:
        """Load the weights once; here, fingerprint them so a prediction can prove which were loaded."""
        digest = hashlib.sha256()
        with WEIGHTS.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        self.size = WEIGHTS.stat().st_size
        self.fingerprint = digest.hexdigest()[:16]

    def predict(self, text: str = Input(description="Any text", default="ping")) -> dict:
        return {"text": text, "weights_bytes": self.size, "weights_sha256_prefix": self.fingerprint}
