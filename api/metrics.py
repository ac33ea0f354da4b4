"""Prometheus metrics, one registry per app instance (no module-level collectors)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "rag_http_request_seconds",
            "HTTP request latency by route and status class.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.retrieval_seconds = Histogram(
            "rag_retrieval_seconds", "Retrieval latency.", buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )  # fmt: skip
        self.generation_seconds = Histogram(
            "rag_generation_seconds", "LLM generation latency (first to last token).",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.tokens_per_second = Gauge(
            "rag_generation_tokens_per_second", "Tokens/s of the last generation.",
            registry=self.registry,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "rag_llm_queue_depth", "Answers running or waiting for the LLM.",
            registry=self.registry,
        )  # fmt: skip
        self.answers = Counter(
            "rag_answers_total", "Answers given, by outcome.", ["outcome"], registry=self.registry
        )
        self.documents_ingested = Counter(
            "rag_documents_ingested_total", "Documents ingested, by outcome.", ["outcome"],
            registry=self.registry,
        )  # fmt: skip

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def observe_answer(self, timings: dict[str, float], *, refused: bool) -> None:
        self.retrieval_seconds.observe(timings.get("retrieval_ms", 0.0) / 1000)
        if "generation_ms" in timings:
            self.generation_seconds.observe(timings["generation_ms"] / 1000)
            self.tokens_per_second.set(timings.get("tokens_per_second", 0.0))
        self.answers.labels("refused" if refused else "answered").inc()
