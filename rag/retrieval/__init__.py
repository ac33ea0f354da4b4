"""Retrieval: dense + lexical search, fusion, reranking."""
