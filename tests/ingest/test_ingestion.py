from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from ingest.ingestion import Ingestor, IngestProgress
from rag.embedding import Embedder, load_embedder
from rag.errors import EmbeddingModelMismatchError
from rag.settings import EmbeddingSettings, Settings
from rag.storage import store
from rag.storage.knowledge_base import KnowledgeBase
from rag.storage.models import Chunk, Document
from tests.conftest import SAMPLE_DOCUMENTS


def chunk_rows(kb: KnowledgeBase) -> dict[int, tuple[int, str]]:
    with kb.read_session() as session:
        rows = session.execute(select(Chunk.id, Chunk.document_id, Chunk.content_hash)).all()
    return {int(r[0]): (int(r[1]), str(r[2])) for r in rows}


def document_id(kb: KnowledgeBase, source_suffix: str) -> int:
    with kb.read_session() as session:
        docs = store.list_documents(session)
    return next(d.id for d in docs if d.source.endswith(source_suffix))


def dense_top(kb: KnowledgeBase, embedder: Embedder, query: str, k: int = 5):
    scores, ids = kb.vectors().search(embedder.encode([query]), k)
    return [int(i) for i in ids[0]], [round(float(s), 5) for s in scores[0]]


def test_ingest_sample_data_fills_db_fts_and_faiss(
    kb: KnowledgeBase, ingestor: Ingestor, sample_dir: Path
) -> None:
    events: list[IngestProgress] = []
    summary = ingestor.ingest_paths([sample_dir], progress=events.append)
    assert summary.failed == 0, summary.errors
    assert summary.added == SAMPLE_DOCUMENTS
    ids = set(chunk_rows(kb))
    assert ids == set(kb.vectors().ids().tolist())
    with kb.read_session() as session:
        assert kb.lexical.indexed_ids(session) == ids
    assert events[-1].done == events[-1].total == SAMPLE_DOCUMENTS
    assert [e.done for e in events] == sorted(e.done for e in events)


def test_chunks_fit_the_embedder_and_point_into_the_text(
    kb: KnowledgeBase, ingestor: Ingestor, embedder: Embedder, tmp_path: Path
) -> None:
    long_text = " ".join(f"Sentence number {i} talks about wheels and spokes." for i in range(400))
    (tmp_path / "long.txt").write_text(long_text)
    ingestor.ingest_paths([tmp_path / "long.txt"])
    with kb.read_session() as session:
        chunks = list(session.scalars(select(Chunk).order_by(Chunk.ordinal)))
    assert len(chunks) > 5
    for chunk in chunks:
        tokens = embedder.count_tokens(chunk.text)
        assert tokens == chunk.token_count
        assert tokens + 2 <= embedder.max_seq_length
        assert long_text[chunk.char_start : chunk.char_end] == chunk.text


def test_reingest_unchanged_corpus_embeds_nothing(
    kb: KnowledgeBase, ingestor: Ingestor, embedder: Embedder, sample_dir: Path
) -> None:
    ingestor.ingest_paths([sample_dir])
    before_rows = chunk_rows(kb)
    generation = kb.generation()
    counter = embedder.texts_embedded
    summary = ingestor.ingest_paths([sample_dir])
    assert embedder.texts_embedded == counter
    assert summary.unchanged == SAMPLE_DOCUMENTS and summary.added == summary.updated == 0
    assert summary.chunks_embedded == 0
    assert chunk_rows(kb) == before_rows
    assert kb.generation() == generation


def test_editing_one_file_changes_only_its_chunks(
    kb: KnowledgeBase, ingestor: Ingestor, embedder: Embedder, sample_dir: Path
) -> None:
    ingestor.ingest_paths([sample_dir])
    before = chunk_rows(kb)
    edited = document_id(kb, "handbook.md")
    path = sample_dir / "handbook.md"
    path.write_text(path.read_text().replace("40 euros", "45 euros"))
    counter = embedder.texts_embedded
    summary = ingestor.ingest_paths([sample_dir])
    after = chunk_rows(kb)
    assert summary.updated == 1 and summary.unchanged == SAMPLE_DOCUMENTS - 1
    untouched_before = {k: v for k, v in before.items() if v[0] != edited}
    untouched_after = {k: v for k, v in after.items() if v[0] != edited}
    assert untouched_before == untouched_after
    # Only the edited section's chunk is embedded again; the rest reuse stored vectors.
    assert embedder.texts_embedded - counter == summary.chunks_embedded == 1
    assert set(kb.vectors().ids().tolist()) == set(after)
    with kb.read_session() as session:
        hits = kb.lexical.search(session, query="45 euros membership", k=3)
    assert hits and after[hits[0].chunk_id][0] == edited


def test_delete_removes_from_db_fts_and_faiss(
    kb: KnowledgeBase, ingestor: Ingestor, sample_dir: Path
) -> None:
    ingestor.ingest_paths([sample_dir])
    doc_id = document_id(kb, "winter-storage.txt")
    gone = {cid for cid, (did, _) in chunk_rows(kb).items() if did == doc_id}
    assert gone
    kb.delete_document(doc_id)
    remaining = set(chunk_rows(kb))
    assert not gone & remaining
    assert set(kb.vectors().ids().tolist()) == remaining
    with kb.read_session() as session:
        assert kb.lexical.indexed_ids(session) == remaining
        assert not kb.lexical.search(session, query="battery room temperature", k=5) or all(
            h.chunk_id not in gone
            for h in kb.lexical.search(session, query="battery room temperature", k=5)
        )
        assert session.get(Document, doc_id) is None
    # The saved file agrees too: a fresh process sees the same ids without a rebuild.
    fresh = KnowledgeBase(kb.settings)
    assert set(fresh.vectors().ids().tolist()) == remaining
    assert fresh.rebuild_count == 0
    fresh.close()


@pytest.mark.parametrize("damage", ["delete", "corrupt", "stale"])
def test_damaged_or_stale_faiss_file_is_repaired_with_identical_results(
    kb: KnowledgeBase,
    ingestor: Ingestor,
    embedder: Embedder,
    sample_dir: Path,
    damage: str,
) -> None:
    ingestor.ingest_paths([sample_dir])
    queries = ["when is the workshop open on saturday", "how do I fix a puncture"]
    expected = [dense_top(kb, embedder, q) for q in queries]
    path = kb.settings.faiss_path
    if damage == "delete":
        path.unlink()
    elif damage == "corrupt":
        raw = bytearray(path.read_bytes())
        raw[40:4000] = b"\x00" * len(raw[40:4000])
        path.write_bytes(bytes(raw[: len(raw) // 2]))
    else:
        # A crash after the DB commit but before the FAISS save leaves an older generation.
        with kb.write_session.begin() as session:
            store.bump_generation(session)
    fresh = KnowledgeBase(kb.settings)
    assert [dense_top(fresh, embedder, q) for q in queries] == expected
    # A stale file is caught up from the change log; an unreadable one is rebuilt.
    if damage == "stale":
        assert (fresh.rebuild_count, fresh.catch_up_count) == (0, 1)
    else:
        assert (fresh.rebuild_count, fresh.catch_up_count) == (1, 0)
    fresh.close()


def test_prune_deletes_documents_whose_file_disappeared(
    kb: KnowledgeBase, ingestor: Ingestor, sample_dir: Path
) -> None:
    ingestor.ingest_paths([sample_dir])
    (sample_dir / "events.html").unlink()
    summary = ingestor.ingest_paths([sample_dir], prune=True)
    assert summary.deleted == 1
    with kb.read_session() as session:
        sources = [d.source for d in store.list_documents(session)]
    assert not any(s.endswith("events.html") for s in sources)
    assert len(sources) == SAMPLE_DOCUMENTS - 1


def test_one_bad_file_does_not_fail_the_batch(ingestor: Ingestor, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.txt").write_text("Spokes are tensioned with a spoke key.")
    (folder / "bad.pdf").write_bytes(b"\x00\x01 not a pdf")
    (folder / "empty.txt").write_bytes(b"")
    summary = ingestor.ingest_paths([folder, tmp_path / "missing.txt"])
    assert summary.added == 1
    assert summary.failed == 3
    assert {Path(e.source).name for e in summary.errors} == {"bad.pdf", "empty.txt", "missing.txt"}


def test_collections_keep_same_source_apart(
    kb: KnowledgeBase, ingestor: Ingestor, sample_dir: Path
) -> None:
    file = sample_dir / "safety-checklist.txt"
    ingestor.ingest_paths([file], collection="a")
    ingestor.ingest_paths([file], collection="b")
    stats = kb.stats()
    assert stats.per_collection["a"]["documents"] == 1
    assert stats.per_collection["b"]["documents"] == 1


def test_a_different_embedding_model_is_refused_then_reembedded(
    settings: Settings,
    kb: KnowledgeBase,
    ingestor: Ingestor,
    embedder: Embedder,
    sample_dir: Path,
    tmp_path: Path,
) -> None:
    ingestor.ingest_paths([sample_dir / "handbook.md"])
    # The same weights under another directory name count as another model.
    other_dir = tmp_path / "other-embedder"
    shutil.copytree(_model_dir(), other_dir)
    other = load_embedder(EmbeddingSettings(model_path=other_dir))
    assert other.name.startswith("other-embedder")
    other_ingestor = Ingestor(kb, other, settings)
    with pytest.raises(EmbeddingModelMismatchError, match="rag reembed"):
        other_ingestor.ingest_paths([sample_dir / "brake-adjustment.txt"])
    with kb.read_session() as session:
        models = set(session.scalars(select(Chunk.embedding_model)))
    assert models == {embedder.name}
    count = kb.reembed_all(other)
    assert count > 0
    with kb.read_session() as session:
        models = set(session.scalars(select(Chunk.embedding_model)))
    assert models == {other.name}
    summary = other_ingestor.ingest_paths([sample_dir / "brake-adjustment.txt"])
    assert summary.added == 1
    assert kb.vectors().size == len(chunk_rows(kb))
    stored = kb.vectors().search(other.encode(["barrel adjuster"]), 1)
    assert np.isfinite(stored[0]).all()


def _model_dir() -> Path:
    from rag.bundled import default_embedding_model_dir

    return default_embedding_model_dir()
