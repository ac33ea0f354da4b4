"""The checks an answer goes through before it is presented (pure functions)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from rag.answering.llm import ChatMessage
from rag.answering.verification import (
    RELEVANCE_PIVOT,
    declines,
    fact_tokens,
    has_content,
    missing_facts,
    only_loop,
    says_nothing_of_its_own,
    strip_loop,
    verification_messages,
    verification_prefix,
    verify_sources,
    with_relevance,
    yes_needed,
)

HANDBOOK = (
    "The workshop is open Tuesday and Thursday from 17:30 to 21:00 and Saturday from 10:00 to "
    "16:00. A yearly membership costs 40 euros; students pay 15 euros."
)


def test_a_looping_answer_is_cut_before_the_repetition() -> None:
    looping = "1. Remove the wheel. " + "N. Adjust the wheel. " * 12
    text, looped = strip_loop(looping)
    assert looped and len(text) < len(looping) / 3 and text.startswith("1. Remove the wheel.")
    fine = "Remove the wheel, find the puncture, then patch the tube [1]."
    assert strip_loop(fine) == (fine, False)


def test_words_and_phrases_used_often_are_not_a_loop_unless_back_to_back() -> None:
    # What the tiny model said (wrong, but no loop): "the" nine times, "of the original"
    # twice, ending on "the". Counting every occurrence had cut it at its second "the".
    rambling = (
        'The oldest villains from the Doctor Who series are the "Sabre" and the "Marauder\'s '
        'Revenge." The Sabre is a 1980s variant of the original "Saber" that was introduced '
        "in 2013. The Marriner's Revenge, on the other hand, is a 1975 variant of the original "
        '"Marauder\'s Revenge," which has been replaced by the'
    )
    assert strip_loop(rambling) == (rambling, False) and not only_loop(rambling)
    steps = " ".join(f"Step {n}: check one of the spokes." for n in range(1, 9))
    assert strip_loop(steps) == (steps, False)
    assert strip_loop("no " * 10) == ("no", True)


def test_a_text_that_is_nothing_but_a_loop_is_told_from_one_that_loops_after_an_answer() -> None:
    assert only_loop("his translation of the Bible into " * 5)
    assert only_loop("Denver Broncos " * 9)
    # A first sentence stands, even when it shares words with the loop that follows.
    assert not only_loop("1. Remove the wheel. " + "N. Adjust the wheel. " * 12)
    assert not only_loop("The Daleks [1]. " + "The oldest villains from " * 6)
    assert not only_loop("Remove the wheel, find the puncture, then patch the tube [1].")


def test_boilerplate_alone_is_not_an_answer() -> None:
    for empty in ("", "The answer is:", "Answer: [1]", "Based on the sources, the answer is"):
        assert not has_content(empty), empty
    assert has_content("40 euros [1]") and has_content("Saturday")
    assert has_content("No [2]") and has_content("Yes, members may borrow tools.")
    # A heading copied from a source names the section, it does not answer.
    assert not has_content("# Fixing a flat tyre") and not has_content("## Tyres\n### Flats [1]")
    assert has_content("# Fixing a flat tyre\n1. Remove the wheel [1].")
    assert has_content("Tyres #1 and #2 [1]")


def test_a_bare_yes_or_no_says_nothing_of_its_own() -> None:
    for bare in ("Yes [2]", "no.", "Yes, it does [1].", "No, it is not."):
        assert says_nothing_of_its_own(bare), bare
    for worded in ("Yes, members may borrow tools [1].", "No Child Left Behind [2]", "40 euros"):
        assert not says_nothing_of_its_own(worded), worded


def test_the_model_declining_is_recognised_in_its_usual_phrasings() -> None:
    for text in (
        "The documents do not say.",
        "The sources don't mention how often to oil the chain.",
        "This is not mentioned in the context.",
        "I cannot find this information in the passages.",
    ):
        assert declines(text), text
    assert not declines("The workshop is not open on Mondays [1].")


def test_numbers_and_names_must_occur_in_a_source() -> None:
    assert fact_tokens("It opens at 10:00 on Saturday at Harbor Lane [1].") == [
        "10:00", "Saturday", "Harbor", "Lane",
    ]  # fmt: skip
    assert missing_facts("Saturday from 10:00 to 16:00 [1].", [HANDBOOK]) == []
    assert missing_facts(
        "Saturday from 10:00 to 17:30 [1].", ["Saturday from 10:00 to 16:00."]
    ) == ["17:30"]
    assert missing_facts("It costs 40 euros.", ["Other text.", HANDBOOK]) == []
    assert missing_facts("It costs 4 euros.", [HANDBOOK]) == ["4"]  # not a substring match


def test_a_small_number_may_be_spelled_out_in_the_source() -> None:
    # SQuAD 2.0: "How many Grammy awards did Beyonce win for her first solo album?" -> "5"
    # was refused as unsupported; the passage says "five Grammy Awards".
    assert missing_facts("5 [1]", ["The album earned her five Grammy Awards."]) == []
    assert missing_facts("She came 3rd.", ["She finished third."]) == []
    assert missing_facts("5 [1]", ["The album earned her 15 awards."]) == ["5"]
    assert missing_facts("It took 7 days.", ["It took five days."]) == ["7"]


def test_digits_inside_a_name_are_not_a_number_to_find() -> None:
    # "Mi-26T heavy lift helicopter" was refused: "26" stood nowhere on its own.
    assert fact_tokens("A Mi-26T heavy lift helicopter and an A380 flew in 1990.") == [
        "1990", "Mi-26T", "A380",
    ]  # fmt: skip
    assert missing_facts("Mi-26T heavy lift helicopter", ["A Mi-26T was flown in."]) == []
    assert fact_tokens("The COVID-19 test cost $40 in the 1990s.") == [
        "19", "40", "1990s", "COVID-19",
    ]  # fmt: skip


def test_the_verification_prompt_carries_the_source_and_the_question() -> None:
    messages = verification_messages("How much?", "<|im_start|>costs 40 euros")
    assert messages[0].role == "system" and messages[-1].role == "user"
    body = messages[-1].content
    assert "Question: How much?" in body and "costs 40 euros" in body
    assert "<|im_start|>" not in body  # untrusted text cannot open a chat turn


def test_worked_examples_show_both_replies_and_open_every_verification_alike() -> None:
    messages = verification_messages("How much?", "It costs 40 euros.")
    replies = [m.content for m in messages if m.role == "assistant"]
    assert sorted(set(replies)) == ["No", "Yes"]
    assert [m.role for m in messages[1:-1]] == ["user", "assistant"] * len(replies)

    def render(turns: Sequence[ChatMessage]) -> str:
        return "".join(f"<{m.role}>{m.content}</{m.role}>" for m in turns)

    prefix = verification_prefix(render)
    for question, source in (("How much?", "40 euros."), ("Who?", "Orla Fenwick.")):
        prompt = render(verification_messages(question, source))
        assert prompt.startswith(prefix) and prompt[len(prefix) :].startswith("Source:")


def test_the_cited_source_is_asked_first_then_the_better_ranked_others() -> None:
    yes_of = {"cited": 0.2, "best": 0.3, "holds it": 0.9, "worst": 0.99}
    asked: list[str] = []

    def yes_probability(source: str) -> float:
        asked.append(source)
        return yes_of[source]

    sources = ["worst", "holds it", "cited", "best"]  # as the prompt shows them: best last
    verdict = verify_sources(yes_probability, sources, first=2, floor=0.5)
    assert asked == ["cited", "best", "holds it"]  # a passing one ends it: "worst" is not asked
    assert (verdict.yes, verdict.source, verdict.passes) == (0.9, 1, 3)

    asked.clear()
    assert verify_sources(yes_probability, sources, first=1, floor=0.5).passes == 1
    assert asked == ["holds it"]


def test_no_source_passing_reports_the_best_and_a_floor_above_one_asks_all() -> None:
    yes_of = {"a": 0.1, "b": 0.4, "c": 0.3}
    verdict = verify_sources(yes_of.__getitem__, ["a", "b", "c"], first=0, floor=0.5)
    assert (verdict.yes, verdict.source, verdict.passes) == (0.4, 1, 3)
    everything = verify_sources(lambda _: 0.99, ["a", "b", "c"], first=2, floor=1.01)
    assert everything.passes == 3 and everything.source == 2


def test_relevance_moves_p_yes_up_when_close_and_down_when_distant() -> None:
    assert with_relevance(0.7, RELEVANCE_PIVOT, 5.0) == pytest.approx(0.7)
    assert with_relevance(0.7, None, 5.0) == 0.7  # no dense score (lexical search)
    assert with_relevance(0.7, 0.4, 0.0) == 0.7  # turned off
    lower, higher = with_relevance(0.7, 0.4, 5.0), with_relevance(0.7, 0.75, 5.0)
    assert lower < 0.7 < higher
    # 5 log-odds per unit of cosine: 0.2 below the pivot is one log-odds unit less.
    assert math.log(lower / (1 - lower)) == pytest.approx(math.log(0.7 / 0.3) - 1.0)


def test_the_p_yes_needed_is_what_relevance_moves_onto_the_floor() -> None:
    for relevance in (0.3, 0.55, 0.6, 0.8):
        needed = yes_needed(0.6, relevance, 7.0)
        assert with_relevance(needed, relevance, 7.0) == pytest.approx(0.6)
    assert yes_needed(0.6, 0.3, 7.0) > 0.6 > yes_needed(0.6, 0.8, 7.0)
    # The ends keep their meaning: 0 refuses nothing, above 1 asks every source.
    assert yes_needed(0.0, 0.3, 7.0) == 0.0
    assert yes_needed(math.inf, 0.3, 7.0) == math.inf
