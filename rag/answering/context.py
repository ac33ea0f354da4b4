"""Small-to-big context: a retrieved chunk grows into its neighbouring chunks of the same
document until it holds ``target_tokens``. Small chunks keep retrieval precise (one heading's
paragraph), while the model sees enough around it to answer "how do I ..." questions whose
steps sit under several headings. Pure: neighbours come from a callback."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True)
class NeighbourChunk:
    chunk_id: int
    ordinal: int
    tokens: int
    text: str


@dataclass(frozen=True, slots=True)
class ExpandedPassage:
    chunk_id: int  # the retrieved chunk: citations point at it
    text: str
    chunk_ids: tuple[int, ...]  # every chunk the text spans, in document order


def expand(
    chunk_id: int,
    neighbours: Sequence[NeighbourChunk],
    *,
    target_tokens: int,
) -> ExpandedPassage:
    """Grow around ``chunk_id`` (one of ``neighbours``), after it first, then before it."""
    by_ordinal = {n.ordinal: n for n in neighbours}
    centre = next(n for n in neighbours if n.chunk_id == chunk_id)
    chosen = [centre]
    used = centre.tokens
    after, before = centre.ordinal + 1, centre.ordinal - 1
    while True:
        grown = False
        for ordinal in (after, before):
            candidate = by_ordinal.get(ordinal)
            if candidate is not None and used + candidate.tokens <= target_tokens:
                chosen.append(candidate)
                used += candidate.tokens
                grown = True
                if ordinal == after:
                    after += 1
                else:
                    before -= 1
        if not grown:
            break
    chosen.sort(key=lambda n: n.ordinal)
    return ExpandedPassage(
        chunk_id=chunk_id,
        text=SEPARATOR.join(n.text for n in chosen),
        chunk_ids=tuple(n.chunk_id for n in chosen),
    )


def expand_all(
    hits: Sequence[tuple[int, int, int]],
    neighbours: Callable[[int, int, int], Sequence[NeighbourChunk]],
    *,
    target_tokens: int,
    reach: int = 4,
    limit: int | None = None,
) -> list[ExpandedPassage]:
    """``hits``: (chunk id, document id, ordinal), best first; at most ``limit`` passages.
    A hit already inside an earlier passage adds nothing; ``neighbours(document_id, first,
    last)`` reads chunks."""
    passages: list[ExpandedPassage] = []
    covered: set[int] = set()
    for chunk_id, document_id, ordinal in hits:
        if limit is not None and len(passages) >= limit:
            break
        if chunk_id in covered:
            continue
        # Chunks an earlier passage already shows are not shown twice.
        around = [
            n
            for n in neighbours(document_id, max(0, ordinal - reach), ordinal + reach)
            if n.chunk_id == chunk_id or n.chunk_id not in covered
        ]
        if not any(n.chunk_id == chunk_id for n in around):
            continue  # deleted since retrieval
        passage = expand(chunk_id, around, target_tokens=target_tokens)
        covered.update(passage.chunk_ids)
        passages.append(passage)
    return passages
