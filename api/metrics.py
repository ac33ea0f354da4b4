"""Prometheus metrics, one registry per app instance (no module-level collectors)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from rag.reporting import is_negative, is_positive

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
RATE_BUCKETS = (1, 2, 5, 10, 15, 20, 30, 50, 75, 100, 150)
# The label of answers asked of every collection.
ALL_COLLECTIONS = "all"


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
            "rag_answers_total", "Answers given, by outcome (answered, refused) and collection.",
            ["outcome", "collection"], registry=self.registry,
        )  # fmt: skip
        self.refusals = Counter(
            "rag_refusals_total", "Refused answers, by reason and collection.",
            ["reason", "collection"], registry=self.registry,
        )  # fmt: skip
        self.support_score = Histogram(
            "rag_answer_support_score", "Support score of the answers not refused.",
            ["collection"], buckets=SCORE_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.generation_rate = Histogram(
            "rag_generation_tokens_per_second_hist", "Tokens/s of each generation.",
            ["collection"], buckets=RATE_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.feedback = Counter(
            "rag_feedback_total", "Feedback received, by polarity and collection.",
            ["polarity", "collection"], registry=self.registry,
        )  # fmt: skip
        self.documents_ingested = Counter(
            "rag_documents_ingested_total", "Documents ingested, by outcome.", ["outcome"],
            registry=self.registry,
        )  # fmt: skip

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def observe_answer(
        self,
        timings: dict[str, float],
        *,
        refused: bool,
        collection: str = "",
        refusal_reason: str | None = None,
        support_score: float = 0.0,
    ) -> None:
        """``collection``: the one asked ("" for all), the label of every per-collection
        series."""
        label = collection or ALL_COLLECTIONS
        self.retrieval_seconds.observe(timings.get("retrieval_ms", 0.0) / 1000)
        if "generation_ms" in timings:
            self.generation_seconds.observe(timings["generation_ms"] / 1000)
            self.tokens_per_second.set(timings.get("tokens_per_second", 0.0))
            self.generation_rate.labels(label).observe(timings.get("tokens_per_second", 0.0))
        self.answers.labels("refused" if refused else "answered", label).inc()
        if refused:
            self.refusals.labels(refusal_reason or "unknown", label).inc()
        else:
            self.support_score.labels(label).observe(support_score)

    def observe_feedback(self, rating: int, *, collection: str) -> None:
        polarity = (
            "positive" if is_positive(rating) else "negative" if is_negative(rating) else "neutral"
        )
        self.feedback.labels(polarity, collection or ALL_COLLECTIONS).inc()
