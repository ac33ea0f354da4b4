"""What the answerer does with what a model says: loops cut, empty and declining answers
refused with their reason, invented numbers refused, the verification pass obeyed, and
citations moved to the passage that holds the answer.

The model here is scripted (it says what each test needs); retrieval, the store, the
embedder and the checks are the real ones. The real models answer in test_answer_quality."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.ingestion import Ingestor
from rag.answering.answerer import Answerer
from rag.answering.answers import REFUSAL_TEXT, Answer
from rag.answering.verification import RELEVANCE_PIVOT, with_relevance
from rag.embedding import Embedder
from rag.retrieval.retriever import Retriever
from tests.scripted_llm import ScriptedLLM


def answerer(retriever: Retriever, embedder: Embedder, llm: ScriptedLLM) -> Answerer:
    return Answerer(retriever=retriever, llm=llm, embedder=embedder, settings=retriever.kb.settings)


QUESTION = "What are the opening hours on Saturday?"


def test_a_looping_generation_is_stopped_and_cut(retriever: Retriever, embedder: Embedder) -> None:
    llm = ScriptedLLM(["Saturday from 10:00 to 16:00 [1]."] + [" Adjust the wheel."] * 300)
    answer = answerer(retriever, embedder, llm).ask(QUESTION, max_tokens=400)
    assert llm.produced < 60  # the guard stopped the stream long before the token limit
    assert answer.looped and "Adjust the wheel. Adjust the wheel. Adjust" not in answer.answer


def test_a_long_answer_that_repeats_common_words_is_not_stopped(
    retriever: Retriever, embedder: Embedder
) -> None:
    said = (
        "On Saturday the workshop is open from 10:00 to 16:00 [1]. At the desk the staff "
        "lend the tools and the stands to the members, and the members return the tools to "
        "the desk before the end of the day, when the staff close the"
    )
    pieces = [f" {word}" for word in said.split()]
    llm = ScriptedLLM(pieces)
    answer = answerer(retriever, embedder, llm).ask(QUESTION, max_tokens=400)
    assert llm.produced == len(pieces) and not answer.looped


def test_a_generation_that_is_nothing_but_a_loop_is_refused_as_empty(
    retriever: Retriever, embedder: Embedder
) -> None:
    llm = ScriptedLLM([" The opening hours on"] * 300)
    answer = answerer(retriever, embedder, llm).ask(QUESTION, max_tokens=400)
    assert llm.produced < 60
    assert answer.refused and answer.refusal_reason == "empty" and answer.looped


@pytest.mark.parametrize(
    ("said", "reason"),
    [
        ([""], "empty"),
        (["The answer", " is:"], "empty"),
        (["# Opening", " hours"], "empty"),
        (["The documents do not say."], "model_declined"),
        (["Saturday from 10:00 to 18:00 [1]."], "unsupported"),  # 18:00 is in no source
    ],
)
def test_what_is_not_an_answer_is_refused_with_its_reason(
    retriever: Retriever, embedder: Embedder, said: list[str], reason: str
) -> None:
    answer = answerer(retriever, embedder, ScriptedLLM(said)).ask(QUESTION)
    assert answer.refused and answer.refusal_reason == reason
    assert answer.answer == REFUSAL_TEXT and answer.citations == [] and not answer.grounded


def test_footnote_marks_the_model_copies_are_not_part_of_the_answer(
    ingestor: Ingestor, embedder: Embedder, tmp_path: Path
) -> None:
    page = tmp_path / "twilight-princess.txt"
    page.write_text(
        "Twilight Princess\n\nLink's main weapon is the sword and shield.[c] On the Wii the "
        "sword is swung with the remote.[q] A sequel was planned.[citation needed]\n"
    )
    ingestor.ingest_paths([page])
    retriever = Retriever(ingestor.kb, embedder, ingestor.kb.settings.retrieval)
    question = "What is Link's main weapon?"

    def ask(*said: str) -> Answer:
        return answerer(retriever, embedder, ScriptedLLM(said)).ask(question)

    copied = ask("The sword and shield [c] [1].")
    assert not copied.refused and copied.answer == "The sword and shield [1]."
    assert [c.source.rsplit("/", 1)[-1] for c in copied.citations] == ["twilight-princess.txt"]
    nothing_else = ask("[citation needed]")
    assert nothing_else.refused and nothing_else.refusal_reason == "empty"
    own_mark = ask("The sword [sic] [1].")  # a mark no source holds is the model's
    assert not own_mark.refused and own_mark.answer == "The sword [sic] [1]."


def test_the_verification_pass_decides(retriever: Retriever, embedder: Embedder) -> None:
    said = ["Saturday from 10:00 to 16:00 [1]."]
    doubted = answerer(retriever, embedder, ScriptedLLM(said, yes=0.05)).ask(QUESTION)
    assert doubted.refused and doubted.refusal_reason == "unsupported"
    assert doubted.timings["verification_yes"] == 0.05
    trusted = answerer(retriever, embedder, ScriptedLLM(said, yes=0.95)).ask(QUESTION)
    assert not trusted.refused and trusted.refusal_reason is None
    assert [c.source.rsplit("/", 1)[-1] for c in trusted.citations] == ["handbook.md"]


def test_the_tiny_preset_skips_the_verification_pass_unless_asked(
    retriever: Retriever, embedder: Embedder
) -> None:
    said = ["Saturday from 10:00 to 16:00 [1]."]

    def ask(**answer_settings: object) -> Answer:
        settings = retriever.kb.settings.model_copy(deep=True)
        settings.llm.preset = "tiny"
        settings.answer = settings.answer.model_copy(update=answer_settings)
        llm = ScriptedLLM(said, yes=0.05)
        return Answerer(retriever=retriever, llm=llm, embedder=embedder, settings=settings).ask(
            QUESTION
        )

    unverified = ask()
    assert not unverified.refused and "verification_yes" not in unverified.timings
    verified = ask(verify=True)
    assert verified.refused and verified.refusal_reason == "unsupported"
    assert verified.timings["verification_yes"] == 0.05


def test_by_default_only_the_cited_source_can_confirm_an_answer(
    retriever: Retriever, embedder: Embedder
) -> None:
    asked: list[str] = []

    def no_then_yes(prompt: str) -> float:
        asked.append(prompt)
        return 0.1 if len(asked) == 1 else 0.9

    llm = ScriptedLLM(["Saturday from 10:00 to 16:00 [1]."], yes=no_then_yes)
    answer = answerer(retriever, embedder, llm).ask(QUESTION)
    assert retriever.kb.settings.answer.verify_sources == "cited"
    assert answer.refused and answer.refusal_reason == "unsupported"
    assert answer.timings["verification_passes"] == 1 and len(asked) == 1


def test_an_answer_passes_when_another_packed_source_verifies_it(
    retriever: Retriever, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retriever.kb.settings.answer, "verify_sources", "packed")
    said = ["Saturday from 10:00 to 16:00 [2]."]  # the handbook: the best passage, shown last
    asked: list[str] = []

    def no_then_yes(prompt: str) -> float:
        asked.append(prompt)
        return 0.1 if len(asked) == 1 else 0.9

    answer = answerer(retriever, embedder, ScriptedLLM(said, yes=no_then_yes)).ask(QUESTION)
    assert not answer.refused and answer.citations
    assert answer.timings["verification_passes"] == 2
    assert answer.timings["verification_yes"] == 0.9
    assert "10:00 to 16:00" in " ".join(asked[0].split())  # the cited source was asked first
    # The citation moves to the source the verification pass confirmed, in the text too.
    holder = answer.timings["verification_source"]
    assert [c.number for c in answer.citations] == [holder]
    assert holder != 2
    assert answer.answer.endswith(f"16:00 [{holder}].") and "[2]" not in answer.answer

    nowhere = ScriptedLLM(said, yes=lambda _: 0.1)
    refused = answerer(retriever, embedder, nowhere).ask(QUESTION)
    assert refused.refused and refused.refusal_reason == "unsupported"
    assert refused.timings["verification_passes"] > 1  # every packed source was asked


def test_the_prompt_holds_the_best_passages_and_retrieval_all_of_them(
    retriever: Retriever, embedder: Embedder
) -> None:
    settings = retriever.kb.settings.model_copy(deep=True)
    settings.answer.sources, settings.answer.prompt_sources = 4, 2
    hits = retriever.search(QUESTION, k=4).hits
    llm = ScriptedLLM(["Saturday from 10:00 to 16:00 [1]."])
    asking = Answerer(retriever=retriever, llm=llm, embedder=embedder, settings=settings)
    answer = asking.ask(QUESTION)
    assert answer.retrieved_chunk_ids == [h.chunk_id for h in hits]
    (prompt,) = llm.prompts
    assert asking.packed_prompt(QUESTION) == prompt  # what the benchmarks compare
    assert "[2] " in prompt and "[3] " not in prompt
    assert hits[0].text.strip()[:40] in prompt and hits[2].text.strip()[:40] not in prompt

    # A caller's k is the number of passages it wants the model to read.
    asking.ask(QUESTION, k=3)
    assert "[3] " in llm.prompts[-1] and "[4] " not in llm.prompts[-1]


def test_a_hit_the_first_passage_grew_over_leaves_its_place_to_the_next(
    retriever: Retriever, embedder: Embedder
) -> None:
    # The repair guide's steps are chunks, one per heading. The best hit is the first step
    # (opened by the guide's title), which grows over the next, the second hit.
    question = "How do I fix a flat tyre?"
    settings = retriever.kb.settings.model_copy(deep=True)
    settings.answer.sources, settings.answer.prompt_sources = 4, 2
    hits = retriever.search(question, k=4).hits
    assert all(h.source.endswith("repair-flat-tire.md") for h in hits[:3])
    assert hits[0].text.startswith("# Fixing a flat tyre") and hits[1].ordinal == 1
    llm = ScriptedLLM(["remove the wheel [1]"])
    Answerer(retriever=retriever, llm=llm, embedder=embedder, settings=settings).ask(question)
    (prompt,) = llm.prompts
    assert "[2] " in prompt and "[3] " not in prompt
    # Every step of the guide is in front of the model, the last one too.
    for step in ("15 mm spanner", "two tyre levers", "vulcanising solution", "sidewall"):
        assert step in " ".join(prompt.split())


def test_a_citation_moves_to_the_passage_that_holds_the_answer(
    retriever: Retriever, embedder: Embedder
) -> None:
    question = "How much do students pay for membership?"
    hits = retriever.search(question, k=4).hits
    wrong = 1 + next(i for i, h in enumerate(hits) if "15 euros" not in h.text)
    said = [f"students pay 15 euros [{wrong}]"]
    answer = answerer(retriever, embedder, ScriptedLLM(said)).ask(question)
    assert not answer.refused
    assert all(
        "15 euros" in c.snippet or c.source.endswith("handbook.md") for c in answer.citations
    )
    assert answer.citations[0].source.endswith("handbook.md")


def test_a_question_whose_words_the_passages_lack_is_refused_unasked(
    retriever: Retriever, embedder: Embedder
) -> None:
    llm = ScriptedLLM(["10:00 to 16:00 [1]"])
    question = "What are the opening hours of the Louvre museum in Paris?"
    result = retriever.search(question, k=4)
    assert result.best_dense_score is not None
    assert result.best_dense_score >= retriever.kb.settings.retrieval.min_relevance
    answer = answerer(retriever, embedder, llm).ask(question)
    assert answer.refused and answer.refusal_reason == "no_relevant_sources"
    assert llm.calls == 0


def verified_at_0_7(retriever: Retriever, embedder: Embedder, question: str, said: str) -> Answer:
    """The answer when the verification pass says P(yes) 0.7: enough for the usual threshold
    (0.5), not for the one a missing term asks for (0.8)."""
    settings = retriever.kb.settings.model_copy(deep=True)
    settings.answer.min_verification = 0.5
    settings.answer.min_verification_missing_terms = 0.8
    llm = ScriptedLLM([said], yes=0.7)
    return Answerer(retriever=retriever, llm=llm, embedder=embedder, settings=settings).ask(
        question
    )


def test_a_question_naming_what_no_passage_mentions_needs_a_surer_verification(
    retriever: Retriever, embedder: Embedder
) -> None:
    def ask(question: str) -> Answer:
        return verified_at_0_7(retriever, embedder, question, "Saturday from 10:00 to 16:00 [1].")

    plain = ask(QUESTION)
    assert not plain.refused and plain.missing_terms == []
    naming = ask("What are the opening hours on Saturday in Berlin?")
    assert naming.refused and naming.refusal_reason == "unsupported"
    assert naming.missing_terms == ["Berlin"]


def test_a_bare_yes_needs_the_surer_verification_when_the_passages_lack_a_word_of_the_question(
    retriever: Retriever, embedder: Embedder
) -> None:
    def ask(question: str, said: str) -> Answer:
        return verified_at_0_7(retriever, embedder, question, said)

    # Every word of this one is in the handbook: "Yes" is judged at the usual threshold.
    held = ask("Is the workshop open on Saturday?", "Yes [1].")
    assert not held.refused and held.missing_terms == []
    # "discount" is in no passage: "Yes" would assert it, so it needs the surer yes.
    question = "Do members get a discount on the yearly membership?"
    bare = ask(question, "Yes [1].")
    assert bare.refused and bare.refusal_reason == "unsupported"
    assert "discount" in bare.missing_terms
    # An answer that says something of its own is judged by what it says.
    worded = ask(question, "Students pay 15 euros [1].")
    assert not worded.refused and worded.missing_terms == []


def test_a_close_paraphrase_is_asked_whatever_its_words(
    retriever: Retriever, embedder: Embedder
) -> None:
    # "bring", "e-bike", "inside": the winter-storage text says "electric bicycle", "indoors".
    question = "Can I bring my e-bike battery inside in winter?"
    result = retriever.search(question, k=4)
    assert result.best_dense_score is not None
    assert result.best_dense_score >= retriever.kb.settings.answer.coverage_check_below
    llm = ScriptedLLM(["Yes, store the battery indoors [1]."])
    answerer(retriever, embedder, llm).ask(question)
    assert llm.calls == 1


def test_a_distant_nearest_passage_needs_a_surer_verification(
    retriever: Retriever, embedder: Embedder
) -> None:
    close, distant = QUESTION, "How much does membership cost?"
    relevance = {q: retriever.search(q, k=4).best_dense_score for q in (close, distant)}
    assert (relevance[close] or 0) > RELEVANCE_PIVOT
    assert retriever.kb.settings.retrieval.min_relevance < (relevance[distant] or 0) < 0.55

    def ask(question: str, weight: float) -> Answer:
        settings = retriever.kb.settings.model_copy(deep=True)
        settings.answer.min_verification = 0.6
        settings.answer.verification_relevance_weight = weight
        llm = ScriptedLLM(["It is in the handbook [1]."], yes=0.7)
        return Answerer(retriever=retriever, llm=llm, embedder=embedder, settings=settings).ask(
            question
        )

    assert not ask(distant, 0.0).refused  # P(yes) 0.7 alone passes 0.6
    refused = ask(distant, 10.0)
    assert refused.refused and refused.refusal_reason == "unsupported"
    expected = with_relevance(0.7, relevance[distant], 10.0)
    assert expected < 0.6
    assert refused.timings["verification_score"] == pytest.approx(expected, abs=1e-4)
    assert refused.timings["best_relevance"] == pytest.approx(relevance[distant], abs=1e-4)
    answered = ask(close, 10.0)
    assert not answered.refused and answered.timings["verification_score"] > 0.7
