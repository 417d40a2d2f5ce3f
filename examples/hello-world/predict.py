from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def setup(self) -> None:
        """Runs once when the model starts; load weights here."""
        self.greeting = "hello"

    def predict(self, text: str = Input(description="Who to greet")) -> str:
        return f"{self.greeting} {text}"
