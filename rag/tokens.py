"""The embedding model's tokenizer, for counting and cutting text (no model, no torch).

Both embedder backends count with this one class over the model's ``tokenizer.json``, so the
chunker cuts the same chunks whichever backend embeds them.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer

from rag.errors import ModelUnavailableError


class TokenCounter:
    """Word pieces of a text without special tokens, untruncated."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    @classmethod
    def from_model_dir(cls, model_dir: Path) -> TokenCounter:
        path = model_dir / "tokenizer.json"
        if not path.is_file():
            raise ModelUnavailableError(f"no tokenizer.json in the embedding model at {model_dir}")
        return cls(Tokenizer.from_file(str(path)))

    def tokens(self, text: str) -> list[str]:
        return list(self._tokenizer.encode(text, add_special_tokens=False).tokens)

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """(start, end) character offsets of each token in ``text``."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).offsets)
