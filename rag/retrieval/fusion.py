"""Pure ranking helpers: score fusion (min-max convex combination, reciprocal rank) and
maximal marginal relevance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


def convex_combination(
    scored: Sequence[Mapping[int, float]],
    *,
    weights: Sequence[float] | None = None,
) -> list[tuple[int, float]]:
    """Fuse scored candidate lists by the weighted mean of their min-max scaled scores.

    Each list's scores are mapped onto [0, 1] over its own candidates (its best 1, its
    worst 0; all equal -> 1), an id a list did not return gets 0 there, and score(id) =
    sum_i w_i * scaled_i(id) / sum_i w_i. Unlike rank fusion this keeps how far ahead a
    list's best candidate is. Ties are broken by id, so the order is deterministic.
    """
    if weights is None:
        weights = [1.0] * len(scored)
    if len(weights) != len(scored):
        raise ValueError("one weight per scored list is needed")
    total = sum(weights)
    if total <= 0:
        raise ValueError("at least one weight must be positive")
    fused: dict[int, float] = {}
    for scores, weight in zip(scored, weights, strict=True):
        if not scores:
            continue
        low, high = min(scores.values()), max(scores.values())
        span = high - low
        for item, score in scores.items():
            scaled = (score - low) / span if span > 0 else 1.0
            fused[item] = fused.get(item, 0.0) + weight * scaled / total
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))


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
