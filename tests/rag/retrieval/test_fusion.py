from __future__ import annotations

import numpy as np
import pytest

from rag.retrieval.fusion import maximal_marginal_relevance, reciprocal_rank_fusion


def test_rrf_rewards_agreement_between_rankings() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]], k=60)
    ids = [i for i, _ in fused]
    assert ids[0] == 1  # ranks 1 and 2
    assert ids[1] == 3  # ranks 3 and 1
    assert set(ids) == {1, 2, 3, 4}
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_rrf_weights_shift_the_order() -> None:
    dense, lexical = [10, 20], [20, 10]
    assert reciprocal_rank_fusion([dense, lexical], weights=[2.0, 1.0])[0][0] == 10
    assert reciprocal_rank_fusion([dense, lexical], weights=[1.0, 2.0])[0][0] == 20


def test_rrf_ignores_duplicates_within_a_ranking_and_is_deterministic() -> None:
    fused = reciprocal_rank_fusion([[5, 5, 6], [6, 5]])
    assert [i for i, _ in fused] == [5, 6]  # equal scores: best single rank, then id
    assert reciprocal_rank_fusion([[]]) == []
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[1]], weights=[1.0, 2.0])


def test_mmr_skips_near_duplicates() -> None:
    query = np.array([1.0, 0.0], dtype=np.float32)
    a = np.array([0.99, 0.14], dtype=np.float32)
    candidates = np.stack([a, a, np.array([0.7, 0.71], dtype=np.float32)])
    candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
    assert maximal_marginal_relevance(query, candidates, k=2, diversity=0.7) == [0, 2]
    assert maximal_marginal_relevance(query, candidates, k=2, diversity=0.0)[0] == 0
    assert maximal_marginal_relevance(query, candidates[:0], k=2) == []
