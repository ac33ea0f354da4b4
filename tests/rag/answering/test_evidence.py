"""The lexical evidence checks made before the model is asked (pure)."""

from __future__ import annotations

from rag.answering.evidence import (
    Vocabulary,
    missing_terms,
    missing_words,
    passage_vocabulary,
    question_coverage,
    specific_terms,
    words_found,
)

PASSAGES = passage_vocabulary(
    [
        ("Super Bowl 50", None, "Gano made a 39-yard field goal for the Panthers in 2016."),
        ("Workshop handbook", "Opening hours", "Lubrication of the chain keeps it quiet."),
    ]
)


def test_forms_of_a_word_are_found() -> None:
    for word in ("yards", "yard", "Panther", "panthers'", "lubricate", "handbooks", "Bowl's"):
        assert PASSAGES.has(word), word
    for word in ("yacht", "gate", "bowling-alley"):
        assert not PASSAGES.has(word), word
    # Hyphenated words are found by their parts, and their parts by them.
    assert PASSAGES.has("39") and PASSAGES.has("field-goal")


def test_coverage_is_the_share_of_the_questions_content_words() -> None:
    assert question_coverage("How many yards was Gano's field goal?", PASSAGES) == 1.0
    # "opening", "hours" found; "louvre", "museum", "paris" not.
    assert (
        question_coverage("What are the opening hours of the Louvre museum in Paris?", PASSAGES)
        == 0.4
    )
    assert question_coverage("What is it?", PASSAGES) == 1.0  # nothing to judge by
    assert words_found("What is it?", PASSAGES) is None


def test_missing_words_are_the_questions_content_words_no_passage_holds() -> None:
    assert missing_words("Did the Panthers' lubrication help the chain?", PASSAGES) == ["help"]
    assert missing_words("Does obesity decrease life quality?", PASSAGES) == [
        "obesity", "decrease", "life", "quality"
    ]  # fmt: skip
    assert missing_words("Explain the opening hours in detail.", PASSAGES) == []
    assert missing_words("Did the Panthers score at all?", PASSAGES) == ["score"]


def test_a_request_is_judged_by_what_it_is_about() -> None:
    # "explain", "step", "detail", "everything" say how to answer; "great" is not found.
    request = "Explain step by step, in great detail, everything about the chain lubrication."
    assert question_coverage(request, PASSAGES) == 2 / 3  # chain, lubrication of three
    assert question_coverage("Please list the opening hours.", PASSAGES) == 1.0
    # A question that only uses such a word keeps it: "describe" is not in the passages.
    assert question_coverage("How did Gano describe the field goal?", PASSAGES) == 0.75
    # ... even when it is the first word that says something ("he" says nothing).
    assert question_coverage("How did he describe the field goal?", PASSAGES) == 2 / 3
    polite = "Can you explain in detail how the chain lubrication works?"
    assert question_coverage(polite, PASSAGES) == 2 / 3  # chain, lubrication; not "works"


def test_specific_terms_are_names_acronyms_and_numbers() -> None:
    question = "Did Gano's kick in 2016 beat the MI55 record of Ganondorf and the Panthers?"
    assert specific_terms(question) == ["Gano", "2016", "MI55", "Ganondorf", "Panthers"]
    assert specific_terms("When does the workshop open?") == []  # the first word is grammar
    assert missing_terms(question, PASSAGES) == ["MI55", "Ganondorf"]


def test_an_empty_vocabulary_finds_nothing() -> None:
    empty = Vocabulary([])
    assert question_coverage("How many yards?", empty) == 0.0
    assert missing_terms("Where is Berlin?", empty) == ["Berlin"]


def test_an_acronym_finds_the_name_it_abbreviates() -> None:
    passages = passage_vocabulary(
        [
            ("Tennis", None, "The U.S. Open is played in Queens, New York City. Tickets sell out."),
            ("Banks", None, "The Bank of England sets the rate; the Fed does not."),
        ]
    )
    question = "Does the US Open in NYC sell more tickets than the BoE or the UK sells?"
    # "US" is spelled "U.S.", "NYC" "New York City", "BoE" "Bank of England"; the UK is
    # named nowhere, nor is "NYCT" (a run of names ends at the full stop before "Tickets").
    assert missing_terms(question, passages) == ["UK"]
    assert not passages.has("NYCT") and not passages.has("CTS")


def test_a_hyphenated_term_is_found_by_its_specific_parts() -> None:
    passages = passage_vocabulary([("Peanuts", None, "A Halloween special aired before 2007.")])
    question = "Which Halloween-themed special aired pre-2007, and which Easter-themed one?"
    assert missing_terms(question, passages) == ["Easter-themed"]
