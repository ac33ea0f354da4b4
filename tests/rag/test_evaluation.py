from __future__ import annotations

import pytest

from rag.evaluation import (
    QAOutcome,
    QARow,
    contains_gold,
    evaluate_qa,
    exact_match,
    mrr_at_k,
    ndcg_at_k,
    normalize_answer,
    recall_at_k,
    token_f1,
)


def test_retrieval_metrics_on_a_hand_computed_example() -> None:
    relevant = {"a": 1, "b": 1}
    ranked = ["x", "a", "y", "b"]
    assert recall_at_k(ranked, relevant, 2) == 0.5
    assert recall_at_k(ranked, relevant, 10) == 1.0
    assert mrr_at_k(ranked, relevant, 10) == 0.5
    import math

    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3)
    assert ndcg_at_k(ranked, relevant, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["a", "b"], relevant) == pytest.approx(1.0)
    assert ndcg_at_k(["x"], {}) == 0.0


def test_squad_normalisation_em_f1_and_contains() -> None:
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert exact_match("the Denver Broncos.", ["Denver Broncos"]) == 1.0
    assert token_f1("Denver", ["Denver Broncos"]) == pytest.approx(2 / 3)
    assert contains_gold("It was the Denver Broncos [1].", ["Denver Broncos"])
    assert not contains_gold("Denverite", ["Denver"])


def test_unanswerable_rows_count_as_correct_when_refused() -> None:
    rows = [
        QARow("1", "q1", ("Paris",), "doc1"),
        QARow("2", "q2", (), None),
    ]
    outcomes = {
        "q1": QAOutcome("Paris [1]", False, ["doc1"], ["doc1"], 10.0),
        "q2": QAOutcome("No.", True, [], [], 2.0),
    }
    metrics = evaluate_qa(rows, answer=lambda q: outcomes[q])
    assert metrics["answer_contains_gold"] == 1.0
    assert metrics["citation_accuracy"] == 1.0
    assert metrics["gold_passage_recall_at_5"] == 1.0
    assert metrics["refusal_rate_off_topic"] == 1.0
    assert metrics["false_refusal_rate"] == 0.0
    assert metrics["questions"] == 2


def test_citation_accuracy_over_all_answerable_rows_and_over_the_answers_given() -> None:
    rows = [
        QARow("1", "q1", ("Paris",), "doc1"),
        QARow("2", "q2", ("Rome",), "doc2"),
        QARow("3", "q3", ("Oslo",), "doc3"),
        QARow("4", "q4", ("Bern",), "doc4"),
    ]
    outcomes = {
        "q1": QAOutcome("Paris [1]", False, ["doc1"], ["doc1"], 1.0),
        "q2": QAOutcome("Rome [1]", False, ["doc9", "doc2"], ["doc9"], 1.0),
        "q3": QAOutcome("", True, ["doc3"], [], 1.0, refusal_reason="unsupported"),
        "q4": QAOutcome("", True, ["doc4"], [], 1.0, refusal_reason="unsupported"),
    }
    metrics = evaluate_qa(rows, answer=lambda q: outcomes[q])
    # The refusals count as misses in the headline figure, not among the answers given.
    assert metrics["citation_accuracy"] == 0.25
    assert metrics["citation_accuracy_answered"] == 0.5
    assert metrics["false_refusal_rate"] == 0.5
