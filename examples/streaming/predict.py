import time

from cog import BasePredictor, ConcatenateIterator, Input, streaming


class Predictor(BasePredictor):
    @streaming  # opts into SSE (Cog 0.21); without it an iterator is still a JSON list, SSE a 406
    def predict(
        self,
        prompt: str = Input(description="Text to echo back token by token"),
        delay: float = Input(description="Seconds between tokens", default=0.05, ge=0, le=2),
    ) -> ConcatenateIterator[str]:
        for i, word in enumerate(prompt.split()):
            time.sleep(delay)
            yield word if i == 0 else " " + word
