import json
import tempfile

from cog import Input, Path


def train(
    offset: int = Input(description="What the trained model adds to its input", default=1),
    epochs: int = Input(description="Pretend training epochs", default=3, ge=1, le=100),
) -> Path:
    weights = {"offset": offset, "epochs": epochs}
    print(f"training for {epochs} epochs")
    target = Path(tempfile.mkdtemp()) / "weights.json"
    target.write_text(json.dumps(weights))
    return target
