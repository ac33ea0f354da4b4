"""The embedder backends against each other, with the real bundled MiniLM and real ONNX files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from ingest.ingestion import Ingestor
from rag.bundled import default_embedding_model_dir
from rag.embedding import Embedder, embedding_model_name, load_embedder
from rag.embedding.onnx_export import exported_model
from rag.errors import EmbeddingModelMismatchError
from rag.retrieval.retriever import Retriever
from rag.settings import EmbeddingSettings, Settings
from rag.storage.knowledge_base import KnowledgeBase
from rag.tokens import TokenCounter

REPO_ROOT = Path(__file__).resolve().parents[3]
# Mixed lengths in one call: padding inside a batch must not change any vector.
TEXTS = [
    "The workshop is open on Saturday from 10:00 to 16:00.",
    "brake pads",
    "",
    " ".join(f"Spoke {i} is trued against the rim before the tyre goes on." for i in range(40)),
    "Unicode: naïve café, 東京, emoji 🚲 and a URL https://example.org/a?b=c.",
]


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return load_embedder(EmbeddingSettings(backend="torch"))


@pytest.fixture(scope="module")
def onnx_embedder() -> Embedder:
    return load_embedder(EmbeddingSettings(backend="onnx"))


@pytest.fixture(scope="module")
def int8_embedder() -> Embedder:
    return load_embedder(EmbeddingSettings(backend="onnx-int8"))


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


def test_float_onnx_gives_the_torch_vectors_under_the_same_name(
    torch_embedder: Embedder, onnx_embedder: Embedder
) -> None:
    reference = torch_embedder.encode(TEXTS)
    vectors = onnx_embedder.encode(TEXTS)
    assert vectors.shape == reference.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32 and vectors.flags["C_CONTIGUOUS"]
    assert cosines(vectors, reference).min() >= 0.99999
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # one text alone and inside a padded batch: the same vector
    alone = onnx_embedder.encode([TEXTS[1]])[0]
    assert float(alone @ vectors[1]) >= 0.99999
    assert onnx_embedder.name == torch_embedder.name == "all-MiniLM-L6-v2"
    assert onnx_embedder.max_seq_length == torch_embedder.max_seq_length == 256


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_many_texts_are_encoded_in_parallel_into_the_same_vectors(
    backend: str, onnx_embedder: Embedder, int8_embedder: Embedder
) -> None:
    embedder = onnx_embedder if backend == "onnx" else int8_embedder
    texts = [f"{text} ({i})" for i in range(6) for text in TEXTS]  # 30 texts, 8 batches
    assert embedder.workers == 2  # type: ignore[attr-defined]
    embedder.workers = 1  # type: ignore[attr-defined]
    try:
        in_turn = embedder.encode(texts)
    finally:
        embedder.workers = 2  # type: ignore[attr-defined]
    together = embedder.encode(texts)
    assert embedder._parallel_session is not None  # type: ignore[attr-defined]
    assert cosines(together, in_turn).min() >= 0.99999
    # A text's vector does not depend on the texts encoded with it: the local and the Spark
    # engine group chunks differently and must store the same vectors (int8 included: its
    # activation scales are per call, so it runs one text per call).
    alone = np.vstack([embedder.encode([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_int8_refuses_batches_that_would_make_vectors_depend_on_their_neighbours(
    int8_embedder: Embedder,
) -> None:
    assert int8_embedder.batch_size == 1  # type: ignore[attr-defined]
    assert EmbeddingSettings(backend="onnx", batch_size=8).batch_size == 8
    with pytest.raises(ValueError, match=r"batch_size must be 1 .* onnx-int8"):
        EmbeddingSettings(backend="onnx-int8", batch_size=4)


def test_int8_vectors_are_close_but_named_apart(
    torch_embedder: Embedder, int8_embedder: Embedder
) -> None:
    similarity = cosines(int8_embedder.encode(TEXTS), torch_embedder.encode(TEXTS))
    assert similarity.min() >= 0.95 and similarity.mean() >= 0.98
    assert int8_embedder.name == "all-MiniLM-L6-v2+int8"
    assert embedding_model_name(EmbeddingSettings(backend="onnx-int8")) == int8_embedder.name
    assert int8_embedder.encode([]).shape == (0, 384)


def test_the_export_is_made_once_then_reused(tmp_path: Path) -> None:
    model_dir = default_embedding_model_dir()
    first = exported_model(model_dir, tmp_path, int8=True)
    float_file = first.with_name("model.onnx")
    stamps = (first.stat().st_mtime_ns, float_file.stat().st_mtime_ns)
    again = exported_model(model_dir, tmp_path, int8=True)
    assert again == first
    assert (first.stat().st_mtime_ns, float_file.stat().st_mtime_ns) == stamps
    assert not list(tmp_path.rglob("*.partial"))  # nothing half-written left behind
    assert first.stat().st_size < float_file.stat().st_size / 3  # int8 weights


def test_chunking_counts_with_the_models_own_wordpieces() -> None:
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(default_embedding_model_dir()))
    counter = TokenCounter.from_model_dir(default_embedding_model_dir())
    for text in TEXTS:
        assert counter.tokens(text) == reference.tokenize(text)
        for start, end in counter.offsets(text):
            assert 0 <= start < end <= len(text)


def test_a_store_never_mixes_vectors_of_two_backends(
    tmp_path: Path, torch_embedder: Embedder, onnx_embedder: Embedder, int8_embedder: Embedder
) -> None:
    settings = Settings(data_dir=tmp_path / "store", _env_file=None)  # type: ignore[call-arg]
    with closing(KnowledgeBase(settings)) as kb:
        Ingestor(kb, torch_embedder, settings).ingest_paths([REPO_ROOT / "data" / "handbook.md"])
        query = "When is the workshop open on Saturday?"
        # float ONNX reads the torch-built index: same vectors, same name
        hits = Retriever(kb, onnx_embedder, settings.retrieval).search(query, k=1).hits
        assert "Saturday" in hits[0].text
        with pytest.raises(EmbeddingModelMismatchError, match="rag reembed"):
            Retriever(kb, int8_embedder, settings.retrieval).search(query, k=1, mode="dense")
        with pytest.raises(EmbeddingModelMismatchError):
            Ingestor(kb, int8_embedder, settings).ingest_paths([REPO_ROOT / "data"])
        assert kb.reembed_all(int8_embedder) > 0
        hits = Retriever(kb, int8_embedder, settings.retrieval).search(query, k=1).hits
        assert "Saturday" in hits[0].text


def test_search_on_the_onnx_backend_never_imports_torch(sample_store: Settings) -> None:
    assert sample_store.embedding.backend.startswith("onnx")
    environment = {
        **os.environ,
        "RAG_DATA_DIR": str(sample_store.data_dir),
        "RAG_EMBEDDING__BACKEND": sample_store.embedding.backend,  # the store's (an ONNX one)
    }
    command = [sys.executable, "-X", "importtime", "-m", "api.cli", "search", "Saturday hours"]
    command += ["--k", "1", "--json"]
    done = subprocess.run(
        command, env=environment, capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "onnxruntime" in imported
    assert not {"torch", "sentence_transformers", "transformers", "llama_cpp"} & imported
    assert json.loads(done.stdout)["hits"]
