"""Builds the heavy resources once (models, knowledge base) for the CLI and the HTTP app.

Each model is loaded on first use: search-only commands never pay for the LLM.
"""

from __future__ import annotations

import threading
from functools import cached_property

from ingest.ingestion import Ingestor
from rag.answering.answerer import Answerer
from rag.answering.llm import LlamaCppLLM, load_llm
from rag.embedding import SentenceTransformerEmbedder, load_embedder
from rag.retrieval.rerank import load_reranker
from rag.retrieval.retriever import Retriever
from rag.settings import Settings
from rag.storage.knowledge_base import KnowledgeBase


class Resources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kb = KnowledgeBase(settings)
        self._llm_lock = threading.Lock()
        self._llm: LlamaCppLLM | None = None
        self._embedder: SentenceTransformerEmbedder | None = None

    @property
    def embedder_loaded(self) -> bool:
        return self._embedder is not None

    @property
    def llm_loaded(self) -> bool:
        return self._llm is not None

    @property
    def embedder(self) -> SentenceTransformerEmbedder:
        if self._embedder is None:
            self._embedder = load_embedder(self.settings.embedding)
        return self._embedder

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(
            self.kb,
            self.embedder,
            self.settings.retrieval,
            reranker=load_reranker(self.settings.retrieval),
        )

    @cached_property
    def ingestor(self) -> Ingestor:
        return Ingestor(self.kb, self.embedder, self.settings)

    @property
    def llm(self) -> LlamaCppLLM:
        # A lock, not cached_property: two first requests must not load the model twice.
        with self._llm_lock:
            if self._llm is None:
                self._llm = load_llm(self.settings.llm)
            return self._llm

    @cached_property
    def answerer(self) -> Answerer:
        return Answerer(
            retriever=self.retriever, llm=self.llm, embedder=self.embedder, settings=self.settings
        )

    def close(self) -> None:
        self.kb.close()
