from __future__ import annotations

import numpy as np
import pytest

from rag.retrieval.fusion import (
    convex_combination,
    maximal_marginal_relevance,
    reciprocal_rank_fusion,
)


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


def test_convex_combination_keeps_a_far_ahead_lead() -> None:
    # Dense barely prefers 1 over 2; BM25 puts 2 far ahead of 1. Rank fusion sees two
    # mirrored first places and a tie; the scores say 2.
    dense = {1: 0.62, 2: 0.61, 3: 0.20}
    lexical = {2: 30.0, 1: 4.0, 3: 3.0}
    assert [i for i, _ in convex_combination([dense, lexical])][:2] == [2, 1]
    fused = dict(convex_combination([dense, lexical]))
    assert fused[2] == pytest.approx((0.41 / 0.42 + 1.0) / 2)
    assert fused[3] == pytest.approx(0.0)
    assert [i for i, _ in reciprocal_rank_fusion([list(dense), list(lexical)])][:2] == [1, 2]


def test_convex_combination_scales_each_list_and_weights_them() -> None:
    dense = {10: 0.9, 20: 0.5}
    lexical = {20: 12.0, 30: 2.0}
    fused = dict(convex_combination([dense, lexical], weights=[3.0, 1.0]))
    assert fused == pytest.approx({10: 0.75, 20: 0.25, 30: 0.0})  # absent from a list: 0
    assert convex_combination([dense, lexical], weights=[1.0, 3.0])[0][0] == 20


def test_convex_combination_edge_cases() -> None:
    assert convex_combination([{}, {}]) == []
    assert convex_combination([{7: 0.4}, {}]) == [(7, 0.5)]  # one candidate is its list's best
    assert convex_combination([{2: 1.0, 1: 1.0}]) == [(1, 1.0), (2, 1.0)]  # ties by id
    with pytest.raises(ValueError):
        convex_combination([{1: 1.0}], weights=[1.0, 2.0])
    with pytest.raises(ValueError):
        convex_combination([{1: 1.0}, {1: 2.0}], weights=[0.0, 0.0])


def test_mmr_skips_near_duplicates() -> None:
    query = np.array([1.0, 0.0], dtype=np.float32)
    a = np.array([0.99, 0.14], dtype=np.float32)
    candidates = np.stack([a, a, np.array([0.7, 0.71], dtype=np.float32)])
    candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
    assert maximal_marginal_relevance(query, candidates, k=2, diversity=0.7) == [0, 2]
    assert maximal_marginal_relevance(query, candidates, k=2, diversity=0.0)[0] == 0
    assert maximal_marginal_relevance(query, candidates[:0], k=2) == []
