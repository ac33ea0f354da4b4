"""Pure ranking helpers: reciprocal-rank fusion and maximal marginal relevance."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]],
    *,
    weights: Sequence[float] | None = None,
    k: int = 60,
) -> list[tuple[int, float]]:
    """Fuse ranked id lists: score(id) = sum_i w_i / (k + rank_i(id)), rank from 1.

    Ties are broken by the best single rank, then by id, so the order is deterministic.
    """
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking is needed")
    scores: dict[int, float] = {}
    best_rank: dict[int, int] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        seen: set[int] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
            best_rank[item] = min(best_rank.get(item, rank), rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], best_rank[pair[0]], pair[0]))


def maximal_marginal_relevance(
    query: npt.NDArray[np.float32],
    candidates: npt.NDArray[np.float32],
    *,
    k: int,
    diversity: float = 0.3,
) -> list[int]:
    """Indices of ``k`` candidates trading relevance against redundancy.

    ``diversity`` 0 keeps the relevance order; 1 only avoids near-duplicates. Vectors are
    assumed normalized (cosine = dot product).
    """
    if len(candidates) == 0 or k <= 0:
        return []
    relevance = candidates @ query.reshape(-1)
    chosen: list[int] = [int(np.argmax(relevance))]
    remaining = set(range(len(candidates))) - set(chosen)
    while remaining and len(chosen) < k:
        pool = sorted(remaining)
        similarity = candidates[pool] @ candidates[chosen].T
        redundancy = similarity.max(axis=1)
        scores = (1 - diversity) * relevance[pool] - diversity * redundancy
        pick = pool[int(np.argmax(scores))]
        chosen.append(pick)
        remaining.discard(pick)
    return chosen
