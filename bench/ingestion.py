"""Ingestion per embedding backend beside the raw libraries, and retrieval quality, in one run.

    python bench/ingestion.py [--limit N] [--backends torch,onnx,onnx-int8] [--no-eval]

For each backend: a fresh store ingests the SciFact train corpus through the whole pipeline
(load, chunk, embed, write SQL + FTS + FAISS); then the raw library encodes the very same chunk
texts: plain ``SentenceTransformer.encode`` for torch, a plain ONNX Runtime loop (tokenize,
``session.run``, mean pooling) for the ONNX files. Then nDCG@10 on the train queries, hybrid
and dense. Prints JSON; targets: onnx-int8 >= 2x the torch pipeline's chunks/s with hybrid
nDCG@10 within 0.01 of torch; each pipeline >= 0.95x its own backend's raw rate.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from ingest.ingestion import Ingestor
from rag.bundled import default_embedding_model_dir
from rag.embedding import Embedder, load_embedder
from rag.evaluation import evaluate_retrieval, read_beir_queries, read_qrels
from rag.retrieval.retriever import Retriever, best_per_document
from rag.settings import EmbeddingSettings, Settings
from rag.storage.filters import SearchFilter
from rag.storage.knowledge_base import KnowledgeBase
from rag.storage.models import Chunk

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "bench-data" / "scifact-train"
BACKENDS = ("torch", "onnx", "onnx-int8")


def limited_corpus(corpus: Path, limit: int, folder: Path) -> Path:
    if not limit:
        return corpus
    out = folder / "corpus.jsonl"
    with open(corpus) as src, open(out, "w") as dst:
        for number, line in enumerate(src):
            if number >= limit:
                break
            dst.write(line)
    return out


def raw_encoder(embedder: Embedder, backend: str, batch_size: int) -> Callable[[list[str]], Any]:
    """The backend's library called directly, `batch_size` texts per call."""
    if backend == "torch":
        model = embedder.model  # type: ignore[attr-defined]

        def encode_torch(texts: list[str]) -> Any:
            return model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
            )

        return encode_torch

    from tokenizers import Tokenizer

    session = embedder._session  # type: ignore[attr-defined]
    tokenizer = Tokenizer.from_file(str(default_embedding_model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(embedder.max_seq_length)
    tokenizer.enable_padding()

    def encode_onnx(texts: list[str]) -> Any:
        ordered = sorted(texts, key=len, reverse=True)
        for start in range(0, len(ordered), batch_size):
            batch = tokenizer.encode_batch(ordered[start : start + batch_size])
            ids = np.array([e.ids for e in batch], dtype=np.int64)
            mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
            states = session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": 0 * ids}
            )[0]
            pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)

    return encode_onnx


def ndcg(retriever: Retriever, collection: str, mode: str, limit_docs: int) -> dict[str, Any]:
    scope = SearchFilter(collections=(collection,))

    def rank(query: str) -> list[str]:
        result = retriever.search(query, k=300, mode=mode, search_filter=scope)
        return [hit.source for hit in best_per_document(result.hits, 100)]

    qrels = read_qrels(SCIFACT / "qrels.tsv")
    if limit_docs:  # only queries whose judged documents are all in the slice
        with open(SCIFACT / "corpus.jsonl") as src:
            kept = {
                json.loads(line)["_id"] for _, line in zip(range(limit_docs), src, strict=False)
            }
        qrels = {q: docs for q, docs in qrels.items() if set(docs) <= kept}
    metrics = evaluate_retrieval(
        queries=read_beir_queries(SCIFACT / "queries.jsonl"), qrels=qrels, rank_documents=rank
    )
    return {"ndcg_at_10": metrics["ndcg_at_10"], "queries": metrics["queries"]}


def run_backend(backend: str, corpus: Path, folder: Path, *, evaluate: bool, limit: int) -> dict:
    settings = Settings(
        data_dir=folder / backend,
        embedding=EmbeddingSettings(backend=backend),  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )
    started = time.perf_counter()
    embedder = load_embedder(settings.embedding)
    load_seconds = time.perf_counter() - started
    embedder.encode(["warm up the model"])  # one-time start-up excluded from both sides
    kb = KnowledgeBase(settings)
    ingestor = Ingestor(kb, embedder, settings)

    started = time.perf_counter()
    summary = ingestor.ingest_paths([corpus], collection="bench")
    pipeline_seconds = time.perf_counter() - started
    with kb.read_session() as session:
        texts = list(session.scalars(select(Chunk.text).order_by(Chunk.id)))

    def raw_seconds_at(batch_size: int) -> float:
        encode = raw_encoder(embedder, backend, batch_size)
        group = settings.ingest.embed_group_chunks
        started = time.perf_counter()
        for start in range(0, len(texts), group):
            encode(texts[start : start + group])
        return time.perf_counter() - started

    pipeline_batch = int(getattr(embedder, "batch_size", 8))
    raw_seconds = raw_seconds_at(pipeline_batch)

    row: dict[str, Any] = {
        "embedding_model": embedder.name,
        "load_seconds": round(load_seconds, 2),
        "docs": summary.added,
        "chunks": len(texts),
        "pipeline_seconds": round(pipeline_seconds, 2),
        "pipeline_chunks_per_s": round(len(texts) / pipeline_seconds, 1),
        "raw_chunks_per_s": round(len(texts) / raw_seconds, 1),
        "pipeline_to_raw": round(raw_seconds / pipeline_seconds, 3),
    }
    if backend == "onnx-int8":
        # The pipeline runs int8 one text per call (batch-independent vectors); the plain
        # loop at the float backend's batch of 4 is the stricter baseline, so report it too.
        batched_seconds = raw_seconds_at(4)
        row["raw_batch4_chunks_per_s"] = round(len(texts) / batched_seconds, 1)
        row["pipeline_to_raw_batch4"] = round(batched_seconds / pipeline_seconds, 3)
    if evaluate:
        retriever = Retriever(kb, embedder, settings.retrieval)
        for mode in ("hybrid", "dense"):
            row[f"ndcg_at_10_{mode}"] = ndcg(retriever, "bench", mode, limit)
    kb.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=SCIFACT / "corpus.jsonl")
    parser.add_argument("--limit", type=int, default=0, help="Only the first N documents.")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--no-eval", action="store_true", help="Skip the nDCG evaluation.")
    args = parser.parse_args()

    results: dict[str, Any] = {"corpus": str(args.corpus), "limit": args.limit}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = limited_corpus(args.corpus, args.limit, Path(tmp))
        for backend in args.backends.split(","):
            results[backend] = run_backend(
                backend, corpus, Path(tmp), evaluate=not args.no_eval, limit=args.limit
            )
            print(json.dumps({backend: results[backend]}), flush=True)
    if "torch" in results and "onnx-int8" in results:
        torch_row, int8_row = results["torch"], results["onnx-int8"]
        results["int8_speedup_over_torch_pipeline"] = round(
            int8_row["pipeline_chunks_per_s"] / torch_row["pipeline_chunks_per_s"], 2
        )
        if not args.no_eval:
            results["int8_hybrid_ndcg_delta"] = round(
                int8_row["ndcg_at_10_hybrid"]["ndcg_at_10"]
                - torch_row["ndcg_at_10_hybrid"]["ndcg_at_10"],
                4,
            )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
