import time

from cog import BasePredictor, ConcatenateIterator, Input


class Predictor(BasePredictor):
    def predict(
        self,
        prompt: str = Input(description="Text to echo back token by token"),
        delay: float = Input(description="Seconds between tokens", default=0.05, ge=0, le=2),
    ) -> ConcatenateIterator[str]:
        for i, word in enumerate(prompt.split()):
            time.sleep(delay)
            yield word if i == 0 else " " + word
