import tempfile

from cog import BasePredictor, Input, Path
from PIL import Image, ImageOps


class Predictor(BasePredictor):
    def predict(
        self,
        image: Path = Input(description="An image to process"),
        scale: float = Input(description="Resize factor", default=1.0, ge=0.1, le=4.0),
        grayscale: bool = Input(description="Convert to grayscale", default=True),
    ) -> Path:
        with Image.open(image) as img:
            out = img.convert("L") if grayscale else img.convert("RGB")
            if scale != 1.0:
                out = out.resize((max(1, round(out.width * scale)), max(1, round(out.height * scale))))
            out = ImageOps.autocontrast(out)
        target = Path(tempfile.mkdtemp()) / "output.png"
        out.save(target)
        return target
