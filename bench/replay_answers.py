"""Replay recorded answers through the current answer checks, without the LLM.

`rag eval qa --details D.jsonl` records each generated answer and the verification pass's
P(yes). This script feeds those answers back through today's `Answerer` (retrieval, the
relevance gates, packing, citation choice, the fact check, the verification threshold) with a
stand-in model that replays the recorded text, and scores the result like `rag eval qa`.
Checks that change after generation can so be measured on hundreds of answers in a minute
instead of hours. Run the recording with `RAG_ANSWER__MIN_VERIFICATION=0`, so that every
answer carries its P(yes); answers refused by a check that ran before (the model declined,
no content, a fact missing from the sources) cannot be replayed and stay refused.

With `--reverify` the verification pass is asked again of the real model, with today's
verification prompt, of the cited source, or with `RAG_ANSWER__VERIFY_SOURCES=packed` of every
packed source (the answerer stops at the first that passes),
instead of replaying the recorded P(yes): a change to that prompt is so measured with a few
prompt evaluations per answer (seconds) instead of a whole generation. Without it, the
recorded P(yes) stands for every source; a recording at threshold 0 asked only the cited
source, so the curve without `--reverify` leaves out answers another source would verify.

It also prints the refusal trade-off of `RAG_ANSWER__MIN_VERIFICATION`, and of a stricter
threshold for questions whose names, acronyms or numbers no retrieved passage mentions
(`RAG_ANSWER__MIN_VERIFICATION_MISSING_TERMS`), for each weight of retrieval's best cosine
in the verification score (`--weights`, `RAG_ANSWER__VERIFICATION_RELEVANCE_WEIGHT`).

    RAG_ANSWER__MIN_VERIFICATION=0 rag --data-dir DIR eval qa --corpus C --qa QA.jsonl \\
        --details D.jsonl
    python bench/replay_answers.py --data-dir DIR --corpus C --qa QA.jsonl --details D.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.answering.answerer import Answerer, min_verification, relevance_weight
from rag.answering.answers import Answer, AnswerDraft
from rag.answering.llm import (
    LLM,
    ChatMessage,
    GenerationStats,
    PromptFormat,
    load_llm,
    model_file,
)
from rag.answering.verification import with_relevance
from rag.embedding import load_embedder
from rag.evaluation import QAOutcome, QARow, evaluate_qa, read_qa_rows
from rag.retrieval.retriever import Retriever
from rag.settings import Settings
from rag.storage import store
from rag.storage.filters import SearchFilter
from rag.storage.knowledge_base import KnowledgeBase

# Refusals decided before or instead of verification by checks the replay cannot rerun.
FIXED_REFUSALS = {"model_declined", "empty"}


class ReplayedModel:
    """An `LLM` that says what was recorded for the question being replayed."""

    def __init__(self, prompt_format: PromptFormat, n_ctx: int, judge: LLM | None) -> None:
        self.format = prompt_format
        self.n_ctx = n_ctx
        self.text = ""
        self.yes = 1.0
        self.judge = judge  # the real model, asking today's verification question

    def render(self, messages: Sequence[ChatMessage]) -> str:
        return self.format.render(messages)

    def count_tokens(self, text: str) -> int:
        return self.format.count_tokens(text)

    def yes_probability(self, prompt: str) -> float:
        return self.yes if self.judge is None else self.judge.yes_probability(prompt)

    def cache_prefix(self, prefix: str) -> int:  # noqa: ARG002
        return 0

    def stream(
        self,
        prompt: str,  # noqa: ARG002 - the replay says what was recorded, whatever is asked
        *,
        max_tokens: int,  # noqa: ARG002
        temperature: float | None = None,  # noqa: ARG002
        should_stop: Callable[[], bool] | None = None,  # noqa: ARG002
    ) -> Iterator[str | GenerationStats]:
        yield self.text
        yield GenerationStats(
            prompt_tokens=0, completion_tokens=0, time_to_first_token_ms=0.0, generation_ms=0.0
        )


class CalibratingAnswerer(Answerer):
    """Asks the verification pass of every packed source and refuses nothing by it: the
    thresholds are applied afterwards to the best P(yes), for the whole trade-off curve."""

    def _holder(self, draft: AnswerDraft, texts: Sequence[str], cited: int) -> int | None:
        self._verification(draft, texts, cited - 1, floor=math.inf)
        return cited


def verification_score(answer: Answer, weight: float) -> float | None:
    """The recorded P(yes) moved by the question's best cosine at ``weight``."""
    yes = answer.timings.get("verification_yes")
    if yes is None:
        return None
    return with_relevance(yes, answer.timings.get("best_relevance"), weight)


def verification_auc(replayed: Sequence[tuple[QARow, Answer]], weight: float) -> float | None:
    """How well the verification score separates answerable from on-topic unanswerable
    questions, over the answers that reached the verification pass: the chance that an
    answerable one scores higher than an unanswerable one (ties count half)."""
    scores: dict[str, list[float]] = {"answerable": [], "on_topic_unanswerable": []}
    for row, answer in replayed:
        yes = verification_score(answer, weight)
        if yes is not None and row.kind in scores:
            scores[row.kind].append(yes)
    good, bad = scores["answerable"], scores["on_topic_unanswerable"]
    if not good or not bad:
        return None
    wins = sum((g > b) + 0.5 * (g == b) for g in good for b in bad)
    return round(wins / (len(good) * len(bad)), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True, help="The store of the run.")
    parser.add_argument("--corpus", type=Path, required=True, help="The run's corpus.jsonl.")
    parser.add_argument("--qa", type=Path, required=True)
    parser.add_argument("--details", type=Path, required=True)
    parser.add_argument(
        "--reverify", action="store_true", help="Ask the verification pass again (real model)."
    )
    parser.add_argument(
        "--weights",
        default="0,3,5,7",
        help="Comma-separated weights of the best cosine in the verification score.",
    )
    args = parser.parse_args()

    settings = Settings(data_dir=args.data_dir)
    configured = settings.model_copy(deep=True)
    # Every replayed answer passes verification here; the thresholds are applied below.
    collection = f"eval-{args.corpus.resolve().parent.name}"
    scope = SearchFilter(collections=(collection,))
    rows = {r.question.strip(): r for r in read_qa_rows(args.qa, limit=None, seed=0)}
    details = [json.loads(line) for line in args.details.read_text().splitlines() if line]

    kb = KnowledgeBase(settings)
    embedder = load_embedder(settings.embedding)
    judge = load_llm(settings.llm) if args.reverify else None
    model = ReplayedModel(PromptFormat.of_file(model_file(settings.llm)), settings.llm.n_ctx, judge)
    answerer = CalibratingAnswerer(
        retriever=Retriever(kb, embedder, settings.retrieval),
        llm=model,
        embedder=embedder,
        settings=settings,
    )
    replayed: list[tuple[QARow, Answer]] = []
    for record in details:
        row = rows[record["question"].strip()]
        model.text = record["answer"]
        model.yes = record["timings"].get("verification_yes", 1.0)
        answer = answerer.ask(record["question"], search_filter=scope, max_tokens=96)
        if record["refused"] and record["refusal_reason"] in FIXED_REFUSALS:
            answer.refused, answer.refusal_reason, answer.citations = (
                True,
                record["refusal_reason"],
                [],
            )
        replayed.append((row, answer))

    with kb.read_session() as session:
        sources = store.chunk_sources(
            session, chunk_ids=[c for _, a in replayed for c in a.retrieved_chunk_ids]
        )

    def score(min_yes: float, min_yes_missing: float, weight: float) -> dict[str, Any]:
        outcomes = {}
        for row, answer in replayed:
            yes = verification_score(answer, weight)
            floor = min_yes_missing if answer.missing_terms else min_yes
            refused = answer.refused or (yes is not None and yes < floor)
            ranked = [sources[c] for c in answer.retrieved_chunk_ids if c in sources]
            outcomes[row.question] = QAOutcome(
                answer=answer.answer,
                refused=refused,
                retrieved_doc_ids=list(dict.fromkeys(ranked)),
                cited_doc_ids=[] if refused else [c.source for c in answer.citations],
                latency_ms=0.0,
                refusal_reason=answer.refusal_reason if answer.refused else "unsupported",
                looped=answer.looped,
            )
        return evaluate_qa([r for r, _ in replayed], answer=lambda q: outcomes[q])

    keys = (
        "answer_contains_gold", "f1", "citation_accuracy", "citation_accuracy_answered",
        "refusal_rate_off_topic", "refusal_rate_on_topic_unanswerable", "false_refusal_rate",
    )  # fmt: skip
    weights = sorted({float(w) for w in args.weights.split(",")} | {relevance_weight(configured)})
    curve = []
    for weight in weights:
        for step in range(0, 19):
            for missing_step in (step, 14, 16, 18, 20):
                if missing_step < step:
                    continue
                metrics = score(step / 20, missing_step / 20, weight)
                curve.append(
                    {
                        "relevance_weight": weight,
                        "min_verification": step / 20,
                        "min_verification_missing_terms": missing_step / 20,
                        **{k: metrics[k] for k in keys},
                    }
                )
    configured_metrics = score(
        min_verification(configured),
        min_verification(configured, missing_terms=True),
        relevance_weight(configured),
    )
    print(
        json.dumps(
            {
                "rows": len(replayed),
                "verification_auc": {str(w): verification_auc(replayed, w) for w in weights},
                "questions_with_missing_terms": sum(bool(a.missing_terms) for _, a in replayed),
                "configured": configured_metrics,
                "curve": curve,
            },
            indent=1,
        )
    )
    kb.close()


if __name__ == "__main__":
    main()
