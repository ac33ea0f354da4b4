"""The FAISS cache: ids are chunk ids, filtered search, atomic save with its generation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rag.storage.vector_index import FaissIndex, load_index, save_index


def unit_vectors(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_search_add_remove_and_filtered_ids() -> None:
    index = FaissIndex(8)
    vectors = unit_vectors(5)
    index.add(np.array([10, 11, 12, 13, 14], dtype=np.int64), vectors)
    scores, ids = index.search(vectors[2][None, :], 3)
    assert ids[0][0] == 12 and abs(scores[0][0] - 1.0) < 1e-5
    _, only = index.search(vectors[2][None, :], 3, allowed_ids=np.array([13, 14]))
    assert set(only[0][only[0] >= 0]) <= {13, 14}
    assert index.remove([12, 99]) == 1
    assert index.size == 4 and 12 not in set(index.ids())


def test_save_and_load_keep_vectors_and_generation(tmp_path: Path) -> None:
    index = FaissIndex(8)
    index.add(np.array([1, 2], dtype=np.int64), unit_vectors(2))
    path = tmp_path / "vectors.faiss"
    save_index(index, path, generation=7)
    loaded = load_index(path)
    assert loaded is not None
    raw, generation, dim = loaded
    again = FaissIndex(dim, raw)
    assert (generation, dim) == (7, 8) and sorted(again.ids()) == [1, 2]
    assert not list(tmp_path.glob(".*tmp"))  # the temp file was renamed over the target


def test_a_damaged_or_foreign_file_loads_as_nothing(tmp_path: Path) -> None:
    path = tmp_path / "vectors.faiss"
    assert load_index(path) is None
    path.write_bytes(b"short")
    assert load_index(path) is None
    save_index(FaissIndex(8), path, generation=1)
    raw = bytearray(path.read_bytes())
    raw[0] ^= 0xFF  # wrong magic
    path.write_bytes(bytes(raw))
    assert load_index(path) is None
