"""Iterator output: `n` items, `delay` seconds apart, with a log line per item."""

import time
from collections.abc import Iterator

from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def predict(self, n: int = Input(default=3, ge=0), delay: float = Input(default=0.0)) -> Iterator[str]:
        for i in range(n):
            print(f"item {i}")
            yield f"chunk-{i}"
            time.sleep(delay)
