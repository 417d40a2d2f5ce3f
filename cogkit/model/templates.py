"""The files `cogkit init` writes: a starting point that builds and predicts as-is.

Kept as strings in a module (not package data) so they ship with the code and need no
resource lookup at run time.
"""

from __future__ import annotations

COG_YAML = """\
# Configuration for cogkit (Cog-compatible). Reference:
# https://github.com/replicate/cog/blob/main/docs/yaml.md

build:
  # set to true if your model needs a GPU (cogkit then runs it with `--gpus all`)
  gpu: false

  # Python version: "3.10", "3.11", "3.12", ...
  python_version: "3.11"

  # Python packages, one per line in the usual requirements.txt format
  # python_requirements: requirements.txt

  # Debian packages installed with apt
  # system_packages:
  #   - "libgl1"
  #   - "ffmpeg"

  # commands run after the packages are installed; a secret mount keeps
  # credentials (e.g. a pip.conf for a private index) out of the image:
  # run:
  #   - "echo environment set up"
  #   - command: pip install --no-cache-dir my-private-package
  #     mounts:
  #       - type: secret
  #         id: pipconf
  #         target: /etc/pip.conf

# environment variables set in the image, at build time and at run time
# environment:
#   - HF_HUB_OFFLINE=1

# the predictor: <file>.py:<class or function>
predict: "predict.py:Predictor"

# uncomment to add a training entry point, used by `cogkit train`
# train: "train.py:train"
"""

PREDICT_PY = '''\
# Prediction interface for cogkit (Cog-compatible). Reference:
# https://github.com/replicate/cog/blob/main/docs/python.md

from cog import BasePredictor, Input, Path


class Predictor(BasePredictor):
    def setup(self) -> None:
        """Load the model into memory once, so that predictions are fast."""
        # self.model = torch.load("./weights.pth")

    def predict(
        self,
        image: Path = Input(description="Grayscale input image"),
        scale: float = Input(description="Factor to scale image by", ge=0, le=10, default=1.5),
    ) -> Path:
        """Run a single prediction on the model."""
        # processed_input = preprocess(image)
        # output = self.model(processed_image, scale)
        # return postprocess(output)
        return image
'''

DOCKERIGNORE = """\
# Files the build never needs: keeps the build context (and the image) small.
.git
.cog
**/__pycache__
**/*.pyc
.venv
venv
.ipynb_checkpoints
.pytest_cache
.mypy_cache
# prediction outputs written by `cogkit predict`
output.*
"""

FILES: dict[str, str] = {
    "cog.yaml": COG_YAML,
    "predict.py": PREDICT_PY,
    ".dockerignore": DOCKERIGNORE,
}
