"""The sample knowledge base (`data/`) and the queries the benches send to it."""

from __future__ import annotations

from pathlib import Path

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "data"

SEARCH_QUERIES = [
    "When is the workshop open on Saturday?",
    "How much does membership cost for students?",
    "how to find the puncture in a tube",
    "brake pads worn grooves",
    "chain wear gauge 0.5 percent",
    "storing an electric bicycle battery",
    "who founded the co-op",
    "beginner maintenance course price",
    "volunteer shifts and badges",
    "surplus at the end of 2025",
]

# Answerable from data/, one on its topic it cannot answer (the chain), one off-topic.
QUESTIONS = [
    "When is the workshop open on Saturday?",
    "How much does a yearly membership cost?",
    "How do I find a puncture?",
    "How do I fix a flat tyre?",
    "How much do students pay for membership?",
    "How often should I lubricate the chain?",
    "What is the capital of Mongolia?",
]
