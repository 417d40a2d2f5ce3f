"""Iterator output: `n` items, `delay` seconds apart, with a log line per item."""

import time
from collections.abc import Iterator

from cog import BasePredictor, Input, streaming


class Predictor(BasePredictor):
    @streaming  # Cog 0.21: SSE only for a model that opts in
    def predict(self, n: int = Input(default=3, ge=0), delay: float = Input(default=0.0)) -> Iterator[str]:
        for i in range(n):
            print(f"item {i}")
            yield f"chunk-{i}"
            time.sleep(delay)


class NotStreaming(BasePredictor):
    """The same iterator without @streaming: a JSON list as usual, but SSE is refused (406)."""

    def predict(self, n: int = 2) -> Iterator[str]:
        yield from (f"chunk-{i}" for i in range(n))


class Slow(BasePredictor):
    """No @streaming and slow: an SSE PUT for it while it runs is still refused (406)."""

    def predict(self) -> str:
        time.sleep(2)
        return "done"
