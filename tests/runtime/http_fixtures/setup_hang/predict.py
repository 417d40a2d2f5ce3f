"""setup() that never finishes on its own: only COG_SETUP_TIMEOUT ends it."""

import time

from cog import BasePredictor


class Predictor(BasePredictor):
    def setup(self) -> None:
        print("setup hangs", flush=True)
        time.sleep(120)

    def predict(self) -> str:
        return "never"
