"""What every embedder backend provides, and the vectors it returns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from rag.tokens import TokenCounter

# Rows of float32 vectors: what the embedder returns and the vector index stores.
FloatMatrix = npt.NDArray[np.float32]


class Embedder(Protocol):
    """``texts_embedded`` counts every text sent to the model: tests assert on it to prove
    that unchanged content is never re-embedded."""

    name: str
    dim: int
    max_seq_length: int
    texts_embedded: int
    tokens: TokenCounter

    def encode(self, texts: Sequence[str]) -> FloatMatrix: ...

    def count_tokens(self, text: str) -> int: ...
