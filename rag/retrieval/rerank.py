"""Optional second-stage reranking of the fused candidates by a cross-encoder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from rag.bundled import use_offline_runtime
from rag.errors import ModelUnavailableError
from rag.settings import RetrievalSettings


class Reranker(Protocol):
    def score(self, query: str, texts: Sequence[str]) -> list[float]: ...


class CrossEncoderReranker:
    """A sentence-transformers cross-encoder loaded from a local directory."""

    def __init__(self, model_dir: Path) -> None:
        if not model_dir.is_dir():
            raise ModelUnavailableError(f"reranker model directory not found: {model_dir}")
        use_offline_runtime()
        from sentence_transformers import CrossEncoder

        self.model = CrossEncoder(str(model_dir), local_files_only=True)

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        scores = self.model.predict([(query, t) for t in texts], show_progress_bar=False)
        return [float(s) for s in scores]


def load_reranker(settings: RetrievalSettings) -> Reranker | None:
    if settings.reranker_model_path is None:
        return None
    return CrossEncoderReranker(settings.reranker_model_path)
