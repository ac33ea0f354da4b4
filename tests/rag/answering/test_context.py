"""Small-to-big context: retrieved chunks grow into their neighbours (pure)."""

from __future__ import annotations

from rag.answering.context import NeighbourChunk, expand, expand_all

DOC = [NeighbourChunk(10 + i, i, 40, f"part {i}") for i in range(6)]


def test_a_chunk_grows_after_then_before_up_to_the_budget() -> None:
    passage = expand(12, DOC, target_tokens=130)
    assert passage.chunk_id == 12 and passage.chunk_ids == (11, 12, 13)
    assert passage.text == "part 1\n\npart 2\n\npart 3"
    assert expand(12, DOC, target_tokens=10).chunk_ids == (12,)  # never smaller than the hit


def test_overlapping_hits_do_not_repeat_text() -> None:
    def neighbours(document_id: int, first: int, last: int) -> list[NeighbourChunk]:
        assert document_id == 1
        return [c for c in DOC if first <= c.ordinal <= last]

    passages = expand_all([(12, 1, 2), (13, 1, 3), (15, 1, 5)], neighbours, target_tokens=130)
    assert [p.chunk_id for p in passages] == [12, 15]  # 13 was already shown with 12
    shown = [cid for p in passages for cid in p.chunk_ids]
    assert len(shown) == len(set(shown))


def test_a_hit_deleted_since_retrieval_is_skipped() -> None:
    assert expand_all([(99, 1, 0)], lambda *_: DOC, target_tokens=100) == []


def test_no_chunks_are_read_past_the_passages_asked_for() -> None:
    read: list[int] = []

    def neighbours(document_id: int, first: int, last: int) -> list[NeighbourChunk]:
        read.append(document_id)
        return [c for c in DOC if first <= c.ordinal <= last]

    hits = [(10, 1, 0), (11, 1, 1), (15, 1, 5), (14, 1, 4)]
    passages = expand_all(hits, neighbours, target_tokens=80, limit=2)
    assert [p.chunk_id for p in passages] == [10, 15]  # 11 was shown with 10
    assert len(read) == 2  # the fourth hit was never read
