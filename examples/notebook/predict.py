from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def predict(self, n: int = Input(description="A number to square", default=3)) -> int:
        return n * n
