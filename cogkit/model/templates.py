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
  python_requirements: requirements.txt

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

REQUIREMENTS_TXT = """\
# The model's Python packages, in pip's requirements format (build.python_requirements in cog.yaml).
# Pin versions so every build installs the same thing. torch is installed from the wheel index that
# matches the build (CUDA for gpu: true, CPU wheels otherwise).
#
# numpy==2.1.3
# torch==2.5.1
# pillow==11.0.0
"""

# A workflow to push the model from CI, as Cog's `init` writes one; it runs only when started by hand
# until the push trigger is uncommented.
PUSH_WORKFLOW = """\
# Build the model and push it to a registry with cogkit.
# Set the repository secrets REGISTRY_USER and REGISTRY_PASSWORD (and the variable IMAGE, e.g.
# registry.example.com/alice/my-model), then run it from the Actions tab ("Push model" -> "Run
# workflow"), or uncomment the push trigger to push on every commit to main.
name: Push model

on:
  workflow_dispatch:
    inputs:
      image:
        description: 'Image to push, e.g. "registry.example.com/alice/my-model" (default: the IMAGE variable)'
  # push:
  #   branches:
  #     - main

env:
  IMAGE: ${{ inputs.image || vars.IMAGE }}

jobs:
  push:
    runs-on: ubuntu-latest
    steps:
      # Large models need room: the default runner keeps ~14 GB of tools a model build does not use.
      - name: Free disk space
        run: sudo rm -rf /usr/share/dotnet /usr/local/lib/android /opt/ghc /opt/hostedtoolcache/CodeQL

      - name: Checkout
        uses: actions/checkout@v4

      - name: Set up Python
        uses: actions/setup-python@v5
        with:
          python-version: "3.11"

      - name: Install cogkit
        run: pip install cogkit

      - name: Log in to the registry
        env:
          REGISTRY_USER: ${{ secrets.REGISTRY_USER }}
          REGISTRY_PASSWORD: ${{ secrets.REGISTRY_PASSWORD }}
        run: echo "$REGISTRY_PASSWORD" | cogkit login "${IMAGE%%/*}" -u "$REGISTRY_USER" --password-stdin

      - name: Build and push
        run: cogkit push "$IMAGE"
"""

FILES: dict[str, str] = {
    "cog.yaml": COG_YAML,
    "predict.py": PREDICT_PY,
    "requirements.txt": REQUIREMENTS_TXT,
    ".dockerignore": DOCKERIGNORE,
    ".github/workflows/push.yaml": PUSH_WORKFLOW,
}
