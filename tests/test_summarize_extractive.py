"""Extractive summaries: key sentences by content-word frequency, original order, short text untouched."""

from __future__ import annotations

import pytest

from core.transcripts.summarize import content_words, split_sentences, summarize_extractive

MEETING = (
    "Good morning everyone. "
    "The budget for the new office is the main topic today. "
    "Coffee is in the kitchen. "
    "The office budget must cover rent, furniture and the network. "
    "Someone left an umbrella in the hall. "
    "We agreed that the budget review happens before the office move. "
    "Lunch will be late. "
    "Anna will send the budget figures for the office by Friday. "
    "Thanks for coming."
)


@pytest.mark.parametrize("text", ["", "   ", "One sentence only.", "First point. Second point!"])
def test_short_text_is_returned_as_is(text: str) -> None:
    assert summarize_extractive(text) == text.strip()


def test_picks_the_sentences_about_the_main_topic_in_their_original_order() -> None:
    summary = summarize_extractive(MEETING, max_sentences=3)
    picked = split_sentences(summary)
    assert len(picked) == 3
    assert all("budget" in s and "office" in s for s in picked), picked
    original = split_sentences(MEETING)
    assert [original.index(s) for s in picked] == sorted(original.index(s) for s in picked)
    assert "Coffee" not in summary and "umbrella" not in summary


def test_max_sentences_bounds_the_summary() -> None:
    for n in (1, 2, 5):
        assert len(split_sentences(summarize_extractive(MEETING, max_sentences=n))) == n
    with pytest.raises(ValueError):
        summarize_extractive(MEETING, max_sentences=0)


def test_text_of_only_stopwords_falls_back_to_the_first_sentences() -> None:
    text = "It is. We are. They were. You did. I am. So it is."
    assert summarize_extractive(text, max_sentences=2) == "It is. We are."


def test_split_sentences_handles_question_marks_quotes_and_blank_lines() -> None:
    text = 'Is it ready? "Yes." It ships today!\n\nNext topic without a full stop\n\nLast one.'
    assert split_sentences(text) == [
        "Is it ready?",
        '"Yes."',
        "It ships today!",
        "Next topic without a full stop",
        "Last one.",
    ]


def test_content_words_drop_stopwords_and_keep_contractions_whole() -> None:
    assert content_words("We don't think the API's budget is OK, it's 42.") == ["think", "api's", "budget", "42"]
