"""Builds the heavy resources once (models, knowledge base) for the CLI and the HTTP app.

The LLM is loaded on first use: search-only commands never pay for it.
"""

from __future__ import annotations

import threading
from functools import cached_property

from ingest.pipeline import Ingestor
from rag.embedder import SentenceTransformerEmbedder, load_embedder
from rag.generator import LlamaCppLLM, load_llm
from rag.knowledge_base import KnowledgeBase
from rag.pipeline import RagPipeline
from rag.retriever import Retriever, load_reranker
from rag.settings import Settings


class Resources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kb = KnowledgeBase(settings)
        self._llm_lock = threading.Lock()

    @cached_property
    def embedder(self) -> SentenceTransformerEmbedder:
        return load_embedder(self.settings.embedding)

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
        with self._llm_lock:
            if "_llm" not in self.__dict__:
                self.__dict__["_llm"] = load_llm(self.settings.llm)
            llm: LlamaCppLLM = self.__dict__["_llm"]
            return llm

    @cached_property
    def pipeline(self) -> RagPipeline:
        return RagPipeline(
            retriever=self.retriever, llm=self.llm, embedder=self.embedder, settings=self.settings
        )

    def close(self) -> None:
        self.kb.close()
