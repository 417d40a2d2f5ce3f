import os

import six
from cog import BasePredictor


class Predictor(BasePredictor):
    def predict(self) -> str:
        leaked = os.path.exists("/etc/pip.conf")
        return f"six {six.__version__}; pip.conf in image: {leaked}"
