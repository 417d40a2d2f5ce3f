"""setup() takes a while and reports progress: health shows STARTING with the logs so far."""

import time

from cog import BasePredictor


class Predictor(BasePredictor):
    def setup(self) -> None:
        print("loading step 1", flush=True)
        time.sleep(1.5)
        print("loading step 2", flush=True)

    def predict(self, text: str = "x") -> str:
        return text
