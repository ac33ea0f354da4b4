"""The embedder on sentence-transformers (torch)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.bundled import use_offline_runtime
from rag.embedding.base import FloatMatrix
from rag.errors import ModelUnavailableError
from rag.tokens import TokenCounter

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class SentenceTransformerEmbedder:
    """Normalized embeddings from a local sentence-transformers directory."""

    def __init__(self, model_dir: Path, *, name: str, batch_size: int, device: str) -> None:
        use_offline_runtime()
        if not model_dir.is_dir():
            raise ModelUnavailableError(f"embedding model directory not found: {model_dir}")
        from sentence_transformers import SentenceTransformer  # heavy import, done lazily

        self.model: SentenceTransformer = SentenceTransformer(
            str(model_dir), device=device, local_files_only=True
        )
        self.name = name
        self.batch_size = batch_size
        # Renamed in sentence-transformers 6; keep both spellings working.
        get_dimension = getattr(self.model, "get_embedding_dimension", None)
        if get_dimension is None:
            get_dimension = self.model.get_sentence_embedding_dimension
        dim: int | None = get_dimension()
        if dim is None:
            raise ModelUnavailableError(f"cannot tell the embedding dimension of {model_dir}")
        self.dim = int(dim)
        self.max_seq_length = int(self.model.max_seq_length or 512)
        self.tokens = TokenCounter.from_model_dir(model_dir)
        self.texts_embedded = 0
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> FloatMatrix:
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        # One torch model is not safe to drive from several threads at once.
        with self._lock:
            vectors = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            self.texts_embedded += len(texts)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        return self.tokens.count(text)
