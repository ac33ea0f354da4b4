"""The SQLite FTS5 index: safe match expressions, BM25 ranking, filters inside the query."""

from __future__ import annotations

from pathlib import Path

from ingest.ingestion import Ingestor
from rag.storage.filters import SearchFilter, filter_clause
from rag.storage.knowledge_base import KnowledgeBase
from rag.storage.lexical import fts_match_expression


def test_user_text_is_quoted_so_fts_syntax_is_inert() -> None:
    assert (
        fts_match_expression('brake NEAR pads* "x" OR')
        == '"brake" OR "near" OR "pads" OR "x" OR "or"'
    )
    assert fts_match_expression("  ...  ") is None


def test_bm25_ranks_and_filters_apply_inside_the_search(
    kb: KnowledgeBase, ingestor: Ingestor, tmp_path: Path
) -> None:
    for collection, text in (("a", "chain lube chain lube chain"), ("b", "chain once")):
        folder = tmp_path / collection
        folder.mkdir()
        (folder / "doc.txt").write_text(text)
        ingestor.ingest_paths([folder], collection=collection)
    with kb.read_session() as session:
        both = kb.lexical.search(session, query="chain lube", k=5)
        only_b = kb.lexical.search(
            session, query="chain", k=5, where=filter_clause(SearchFilter(collections=("b",)))
        )
        nothing = kb.lexical.search(
            session, query="chain", k=5,
            where=filter_clause(SearchFilter(collections=("b",)).restricted_to(["a"]).restricted_to([])),
        )  # fmt: skip
    assert len(both) == 2 and both[0].score > both[1].score
    assert len(only_b) == 1 and only_b[0].chunk_id != both[0].chunk_id
    assert nothing == []
    assert kb.lexical.indexed_ids(session=kb.read_session()) == kb.chunk_ids()
