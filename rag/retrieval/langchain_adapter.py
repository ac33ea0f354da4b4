"""A LangChain ``BaseRetriever`` over the hybrid retriever, for use inside LangChain chains."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LangChainDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.retrieval.retriever import Retriever
from rag.storage.filters import SearchFilter


class HybridRetriever(BaseRetriever):
    """Returns LangChain documents whose metadata carries every field of a ``SearchHit``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever
    k: int = 5
    mode: str = "hybrid"
    search_filter: SearchFilter | None = None

    # LangChain's BaseRetriever calls this with its callback manager; we report nothing.
    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,  # noqa: ARG002
        **kwargs: Any,  # noqa: ARG002
    ) -> list[LangChainDocument]:
        result = self.retriever.search(
            query, k=self.k, mode=self.mode, search_filter=self.search_filter
        )
        documents = []
        for hit in result.hits:
            metadata = asdict(hit)
            text = metadata.pop("text")
            documents.append(LangChainDocument(page_content=text, metadata=metadata))
        return documents
