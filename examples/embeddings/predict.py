"""Sentence embeddings with all-MiniLM-L6-v2: one text or a list of texts in, one vector per text out."""

import os
from pathlib import Path

# The weights are on disk (weights/); never reach for the Hugging Face Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bar in setup's logs

import torch  # noqa: E402
from cog import BasePredictor, Input  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

WEIGHTS = Path(__file__).resolve().parent / "weights"


class Predictor(BasePredictor):
    def setup(self) -> None:
        """Load the model from weights/ (fetch_weights.py puts it there) on the GPU when there is one.
        EMBEDDINGS_DEVICE (cpu, cuda, cuda:1) overrides the choice."""
        if not (WEIGHTS / "model.safetensors").is_file():
            raise RuntimeError(f"{WEIGHTS}/model.safetensors is missing: run `python fetch_weights.py` first")
        device = os.environ.get("EMBEDDINGS_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
        full = SentenceTransformer(str(WEIGHTS), device=device, local_files_only=True)
        # The checkpoint ends in a Normalize module, so it always returns unit vectors. Keep the modules
        # before it (transformer, mean pooling: the same objects, no copy) and normalize on request.
        kept = [module for module in full if type(module).__name__ != "Normalize"]
        self.model = SentenceTransformer(modules=kept, device=device)
        self.model.eval()

    def predict(
        self,
        texts: str | list[str] = Input(description="A text, or a list of texts embedded in one batch"),
        normalize: bool = Input(description="Scale each vector to unit length (cosine = dot)", default=True),
    ) -> list[list[float]]:
        batch = [texts] if isinstance(texts, str) else list(texts)
        if not batch:
            return []
        # batch_size = the whole request: the texts go through the model in one forward pass.
        vectors = self.model.encode(
            batch,
            batch_size=len(batch),
            normalize_embeddings=normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.tolist()
