"""setup() raises: the server must report SETUP_FAILED with the setup logs."""

from cog import BasePredictor


class Predictor(BasePredictor):
    def setup(self) -> None:
        print("loading weights")
        raise RuntimeError("weights missing")

    def predict(self, text: str) -> str:
        return text
