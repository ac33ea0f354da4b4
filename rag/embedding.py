"""Text embedder interface and the sentence-transformers implementation."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from rag.bundled import default_embedding_model_dir, use_offline_runtime
from rag.errors import ModelUnavailableError
from rag.settings import EmbeddingSettings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_EMBEDDING_NAME = "all-MiniLM-L6-v2"

# Rows of float32 vectors: what the embedder returns and the vector index stores.
FloatMatrix = npt.NDArray[np.float32]


class Embedder(Protocol):
    name: str
    dim: int
    max_seq_length: int
    texts_embedded: int

    def encode(self, texts: Sequence[str]) -> FloatMatrix: ...

    def count_tokens(self, text: str) -> int: ...

    def tokenize(self, text: str) -> list[str]: ...


class SentenceTransformerEmbedder:
    """Normalized embeddings from a local sentence-transformers directory.

    ``texts_embedded`` counts every text sent to the model: tests assert on it to prove
    that unchanged content is never re-embedded.
    """

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
        self.tokenizer = self.model.tokenizer
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

    def tokenize(self, text: str) -> list[str]:
        return list(self.tokenizer.tokenize(text))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.tokenize(text))


def embedding_model_name(settings: EmbeddingSettings) -> str:
    if settings.model_name:
        return settings.model_name
    if settings.model_path is None:
        return DEFAULT_EMBEDDING_NAME
    return settings.model_path.resolve().name


def load_embedder(settings: EmbeddingSettings) -> SentenceTransformerEmbedder:
    model_dir = settings.model_path or default_embedding_model_dir()
    return SentenceTransformerEmbedder(
        model_dir,
        name=embedding_model_name(settings),
        batch_size=settings.batch_size,
        device=settings.device,
    )
