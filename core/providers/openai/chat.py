"""Summaries through chat completions: one call, or map-reduce when the text is over the budget."""

from __future__ import annotations

from collections.abc import Callable

SUMMARY_PROMPT = "Summarize this transcript in a few short paragraphs, then list decisions and action items."
PART_PROMPT = "This is part {i} of {n} of a long transcript. Summarize it in one dense paragraph."
COMBINE_PROMPT = "These are summaries of consecutive parts of one transcript. Write one coherent summary."
Chat = Callable[[str, str], str]  # (instructions, content) -> answer


def summarize_text(text: str, budget: int, chat: Chat) -> str:
    """Summarize `text`; over `budget` characters, summarize the parts and then combine the summaries."""
    parts = split_text(text, budget)
    if len(parts) == 1:
        return chat(SUMMARY_PROMPT, text)
    partials = [chat(PART_PROMPT.format(i=i, n=len(parts)), part) for i, part in enumerate(parts, 1)]
    combined = "\n\n".join(partials)
    if len(combined) > budget and len(combined) < len(text) // 2:  # still long, but shrinking: another round
        return summarize_text(combined, budget, chat)
    return chat(COMBINE_PROMPT, combined)


def split_text(text: str, budget: int) -> list[str]:
    """Cut text into parts under `budget` characters, at paragraph boundaries, else at word boundaries."""
    if len(text) <= budget:
        return [text]
    parts: list[str] = []
    current = ""
    for piece in (p for paragraph in text.split("\n\n") for p in _pack_words(paragraph, budget)):
        if current and len(current) + 2 + len(piece) > budget:
            parts.append(current)
            current = ""
        current = f"{current}\n\n{piece}" if current else piece
    if current:
        parts.append(current)
    return parts


def _pack_words(paragraph: str, budget: int) -> list[str]:
    if len(paragraph) <= budget:
        return [paragraph]
    out: list[str] = []
    current = ""
    for word in paragraph.split():
        if current and len(current) + 1 + len(word) > budget:
            out.append(current)
            current = ""
        current = f"{current} {word}" if current else word
    if current:
        out.append(current)
    return out
