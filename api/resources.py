"""Builds the heavy resources once (models, knowledge base) for the CLI and the HTTP app.

Each model is loaded on first use: search-only commands never pay for the LLM.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import Generic, TypeVar

from ingest.ingestion import Ingestor
from rag.answering.answerer import Answerer
from rag.answering.llm import LLM
from rag.answering.llm_servers import load_generator
from rag.embedding import Embedder, load_embedder
from rag.retrieval.rerank import load_reranker
from rag.retrieval.retriever import Retriever
from rag.settings import Settings
from rag.storage.knowledge_base import KnowledgeBase

T = TypeVar("T")


class Lazy(Generic[T]):
    """A value built on first use, once, even when two threads ask at the same time."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def get(self) -> T:
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value


class Resources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kb = KnowledgeBase(settings)
        self.embedder_model = Lazy(lambda: load_embedder(settings.embedding))
        self.llm_model = Lazy(lambda: load_generator(settings.llm))

    @property
    def embedder(self) -> Embedder:
        return self.embedder_model.get()

    @property
    def llm(self) -> LLM:
        return self.llm_model.get()

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

    @cached_property
    def answerer(self) -> Answerer:
        return Answerer(
            retriever=self.retriever, llm=self.llm, embedder=self.embedder, settings=self.settings
        )

    def close(self) -> None:
        self.kb.close()
