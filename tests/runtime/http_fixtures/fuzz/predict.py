"""Many input types, quick and harmless: the target of the schemathesis fuzz run."""

from typing import List, Literal, Optional

from cog import BasePredictor, Input, Path, Secret


class Predictor(BasePredictor):
    def predict(
        self,
        text: str = Input(description="any text", min_length=0, max_length=50),
        count: int = Input(default=1, ge=0, le=10),
        ratio: float = Input(default=0.5, ge=0.0, le=1.0),
        flag: bool = False,
        color: str = Input(default="red", choices=["red", "green"]),
        size: Literal["s", "m", "l"] = "m",
        tags: List[str] = Input(default=None),
        maybe: Optional[int] = None,
        token: Secret = Input(default=None),
        pattern: str = Input(default="ab", regex=r"^[ab]+$"),
        file: Path = Input(default=None),
    ) -> str:
        secret_len = len(token.get_secret_value()) if token is not None else 0
        fields = [text, count, ratio, flag, color, size, tags, maybe, pattern, file is not None, secret_len]
        return ":".join(str(f) for f in fields)


def train(steps: int = Input(default=1, ge=1, le=5)) -> str:
    return f"trained {steps}"
