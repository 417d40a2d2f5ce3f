"""`cog.BasePredictor`: the class Cog models subclass."""

from __future__ import annotations

from typing import Any


class BasePredictor:
    """Override setup() (optionally taking `weights`) to load the model and predict() to run it."""

    def setup(self, weights: Any = None) -> None:
        """Load the model once per process; the default does nothing."""

    def predict(self, **kwargs: Any) -> Any:
        raise NotImplementedError("predict() is not implemented")

    def train(self, **kwargs: Any) -> Any:
        raise NotImplementedError("train() is not implemented")


class BaseRunner(BasePredictor):
    """Newer Cog's name for a predictor: implement run() instead of predict()."""

    def run(self, **kwargs: Any) -> Any:
        raise NotImplementedError("run() is not implemented")
