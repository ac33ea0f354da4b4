"""Text embedders: one interface, backends on torch (sentence-transformers) and ONNX Runtime.

Backends are imported only when chosen, so a process on the ONNX backend never imports torch.
"""

from __future__ import annotations

from rag.bundled import default_embedding_model_dir
from rag.embedding.base import Embedder, FloatMatrix
from rag.settings import EmbeddingSettings

__all__ = ["Embedder", "FloatMatrix", "embedding_model_name", "load_embedder"]

DEFAULT_EMBEDDING_NAME = "all-MiniLM-L6-v2"
# Per backend, the texts per inference call that measured fastest here (bench/ingestion.py):
# ONNX Runtime prefers small length-sorted batches, torch larger ones. int8 runs one text per
# call: its dynamic quantization takes activation scales over the whole input, so in a batch a
# text's vector would depend on its neighbours (cosine 0.994 to itself alone); one text per
# call measured as fast as four (SciFact abstracts, 2 cores: 46-57 vs 49-52 texts/s).
DEFAULT_BATCH_SIZE = {"torch": 16, "onnx": 4, "onnx-int8": 1}


def embedding_model_name(settings: EmbeddingSettings) -> str:
    """The name recorded with every vector; the store never mixes two names.

    torch and float ONNX give the same vectors (cosine >= 0.99999, tested), so they share a
    name; int8 vectors differ (mean cosine 0.995 to float) and are named apart.
    """
    if settings.model_name:
        base = settings.model_name
    elif settings.model_path is None:
        base = DEFAULT_EMBEDDING_NAME
    else:
        base = settings.model_path.resolve().name
    return f"{base}+int8" if settings.backend == "onnx-int8" else base


def load_embedder(settings: EmbeddingSettings) -> Embedder:
    model_dir = settings.model_path or default_embedding_model_dir()
    batch_size = settings.batch_size or DEFAULT_BATCH_SIZE[settings.backend]
    name = embedding_model_name(settings)
    if settings.backend == "torch":
        from rag.embedding.torch_backend import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(
            model_dir, name=name, batch_size=batch_size, device=settings.device
        )
    from rag.embedding.onnx_backend import OnnxEmbedder
    from rag.embedding.onnx_export import exported_model

    onnx_path = exported_model(model_dir, settings.cache_dir, int8=settings.backend == "onnx-int8")
    return OnnxEmbedder(
        onnx_path, model_dir, name=name, batch_size=batch_size, threads=settings.threads
    )
