from __future__ import annotations

import numpy as np

from rag.answering.grounding import (
    GroundingReport,
    SentenceSupport,
    check_grounding,
    cited_to,
    clean_citations,
    split_sentences,
    without_source_markup,
)
from rag.embedding import Embedder


def test_markers_pointing_at_no_source_are_dropped() -> None:
    text, used = clean_citations("Open on Saturday [2]. Closed Sunday [7]. Both [1, 9].", 3)
    assert text == "Open on Saturday [2]. Closed Sunday. Both [1]."
    assert used == [2, 1]


def test_footnote_marks_copied_from_a_source_are_dropped() -> None:
    sources = ["Link wields a sword and shield.[c] 1.32 million copies by 2007[update]."]
    assert without_source_markup("sword [c]", sources) == "sword"
    assert without_source_markup("sword and shield [c] [1].", sources) == "sword and shield [1]."
    assert without_source_markup("1.32 million by 2007[update]", sources) == "1.32 million by 2007"
    assert without_source_markup("by 2007 [c] it sold", sources) == "by 2007 it sold"
    assert without_source_markup("shield.[c][d]", ["shield.[c][d] More"]) == "shield."
    assert without_source_markup("Link\n[c]sword", sources) == "Link\nsword"
    # Citations, and marks no source holds (the model's own), stay.
    assert without_source_markup("sword [1]", ["A sword [1] here."]) == "sword [1]"
    assert without_source_markup("sword [sic]", sources) == "sword [sic]"
    # So do an editor's insertion in a quotation, code and Markdown links copied from a source.
    quoted = ['He wrote that "the king [and] his court" left.']
    assert without_source_markup("the king [and] his court", quoted) == "the king [and] his court"
    code = ["Count with `counts[key] += 1` or see [the guide](guide.md)."]
    assert without_source_markup("Use `counts[key] += 1`.", code) == "Use `counts[key] += 1`."
    assert without_source_markup("See [the guide](guide.md).", code) == "See [the guide](guide.md)."


def test_sentence_split_keeps_citations_with_their_sentence() -> None:
    assert split_sentences("One [1]. Two is here [2]! Three?") == [
        "One [1].",
        "Two is here [2]!",
        "Three?",
    ]


def test_grounding_flags_the_unsupported_sentence(embedder: Embedder) -> None:
    sources = [
        "The workshop is open on Saturday from 10:00 to 16:00.",
        "A yearly membership costs 40 euros.",
    ]
    vectors = embedder.encode(sources)
    report = check_grounding(
        "The workshop opens on Saturday at 10:00 [1]. Penguins live in Antarctica [2].",
        source_vectors=vectors,
        encode=embedder.encode,
        threshold=0.45,
    )
    assert report.cited_numbers == (1, 2)
    assert not report.inferred
    assert [s.supported for s in report.sentences] == [True, False]
    assert report.unsupported == ["Penguins live in Antarctica."]


def test_citations_are_inferred_when_the_model_writes_none(
    embedder: Embedder,
) -> None:
    sources = ["Brake pads wear out and need replacing.", "A yearly membership costs 40 euros."]
    report = check_grounding(
        "Membership costs 40 euros a year.",
        source_vectors=embedder.encode(sources),
        encode=embedder.encode,
        threshold=0.45,
    )
    assert report.inferred
    assert report.cited_numbers == (2,)
    empty = check_grounding(
        "", source_vectors=np.zeros((0, 384), np.float32), encode=embedder.encode, threshold=0.5
    )
    assert empty.support_score == 0.0 and empty.cited_numbers == ()


def test_numbered_list_items_stay_whole() -> None:
    assert split_sentences("1. Find the hole.\n2. Patch it.") == [
        "1. Find the hole.",
        "2. Patch it.",
    ]


def test_wording_ties_a_figure_to_the_passage_that_states_it(
    embedder: Embedder,
) -> None:
    sources = [
        "Membership fees brought in 19,300 euros and refurbished bicycles 27,500 euros.",
        "## Membership\nA yearly membership costs 40 euros; students pay 15 euros. Members may "
        "use every tool and store one bicycle in the basement for two weeks.",
    ]
    report = check_grounding(
        "The answer to this question is: 40 euros.",
        source_vectors=embedder.encode(sources),
        source_texts=sources,
        encode=embedder.encode,
        threshold=0.45,
    )
    assert report.cited_numbers == (2,)


def test_between_sources_holding_the_answer_the_question_decides(embedder: Embedder) -> None:
    sources = [
        "The station opened in 1963, the year the bakery next door changed hands.",
        "General Hospital began airing on ABC in 1963 and is its longest-running serial.",
    ]
    vectors = embedder.encode(sources)

    def cited(answer: str, question: str | None) -> tuple[int, ...]:
        return check_grounding(
            answer, source_vectors=vectors, source_texts=sources, encode=embedder.encode,
            threshold=0.3, question=question,
        ).cited_numbers  # fmt: skip

    question = "When did General Hospital begin airing?"
    assert cited("1963 [1]", question) == (2,)
    assert cited("1963 [2]", question) == (2,)
    # Without the question, a citation of a source holding the answer stands.
    assert cited("1963 [1]", None) == (1,)
    # A source holding more of the answer's words still wins over the question's choice.
    assert cited("the bakery changed hands in 1963 [2]", question) == (1,)
    # An answer without a marker is attributed by the same rule.
    assert cited("1963", question) == (2,)
    assert cited("The bakery changed hands in 1963.", question) == (1,)


def test_an_unmarked_answer_goes_to_the_passage_the_question_is_about(
    embedder: Embedder,
) -> None:
    # Both passages hold the one-word answer; the question is about the first.
    sources = [
        "Using items takes over the controls used for the sword, so the player cannot swing "
        "the sword while aiming the Clawshot.",
        "Link's main weapon is the sword, with a shield he carries on his back.",
    ]
    report = check_grounding(
        "sword", source_vectors=embedder.encode(sources), source_texts=sources,
        encode=embedder.encode, threshold=0.2,
        question="Using items in the game took over the controls used for what weapon?",
    )  # fmt: skip
    assert report.inferred and report.cited_numbers == (1,)


def test_an_unmarked_sentence_goes_to_the_source_closest_in_meaning(embedder: Embedder) -> None:
    # The first passage shares more of the sentence's words by coincidence ("40", "costs").
    sources = [
        "Bus line 40 stops at the euro shop; its timetable costs nothing.",
        "A yearly membership of the workshop is priced at forty euros.",
    ]
    report = check_grounding(
        "Membership costs 40 euros a year.", source_vectors=embedder.encode(sources),
        source_texts=sources, encode=embedder.encode, threshold=0.45,
        question="How much is a membership?",
    )  # fmt: skip
    assert report.cited_numbers == (2,)


def test_the_key_sentence_can_be_cited_to_another_source() -> None:
    sentences = (
        SentenceSupport("Open Saturday 10:00 to 16:00.", (1,), 0.7, 1, True),
        SentenceSupport("Closed Sunday.", (3,), 0.6, 3, True),
    )
    text = "Open Saturday 10:00 to 16:00 [1]. Closed Sunday [3]."
    marked = GroundingReport(text, (1, 3), False, sentences, 0.65)
    moved = cited_to(marked, 2)
    assert moved.text == "Open Saturday 10:00 to 16:00 [2]. Closed Sunday [3]."
    assert moved.cited_numbers == (2, 3)
    assert moved.sentences[0].cited == (2,) and moved.sentences[1] == sentences[1]

    text = "Open Saturday 10:00 to 16:00. Closed Sunday."
    inferred = GroundingReport(text, (1, 3), True, sentences, 0.65)
    moved = cited_to(inferred, 2)
    assert moved.text == inferred.text and moved.inferred
    assert moved.cited_numbers == (2, 3)


def test_a_citation_moves_to_the_better_ranked_of_two_equal_holders(embedder: Embedder) -> None:
    # The prompt shows the best-ranked source last: of two passages holding the answer and
    # the question's words equally, the later one gets the citation.
    holder = "The Millbrook lighthouse was built in 1872 by the harbour board."
    sources = [holder, holder, "A yearly membership costs 40 euros."]
    report = check_grounding(
        "It was built in 1872 [3].",
        source_vectors=embedder.encode(sources),
        source_texts=sources,
        encode=embedder.encode,
        threshold=0.45,
        question="When was the Millbrook lighthouse built?",
    )
    assert report.cited_numbers == (2,)
    assert report.text == "It was built in 1872 [2]."
