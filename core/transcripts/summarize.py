"""Extractive summaries: the sentences whose content words recur most, in their original order."""

from __future__ import annotations

import math
import re
from collections import Counter

# Sentence ends: whitespace after . ! ? (or after one closing quote or bracket), or a blank line.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"')\]])\s+|\n\s*\n")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

_STOPWORD_TEXT = """
    a about above after again against all also am an and any are aren't as at be because been before
    being below between both but by can can't could couldn't did didn't do does doesn't doing don't
    down during each few for from further get got had hadn't has hasn't have haven't having he he'd
    he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm i've if in into
    is isn't it it's its itself just let's like me more most much must mustn't my myself no nor not
    now of off ok okay on once only or other ought our ours ourselves out over own really right said
    same say says she she'd she'll she's should shouldn't so some such than that that's the their
    theirs them themselves then there there's these they they'd they'll they're they've thing things
    this those through to too um uh under until up us very was wasn't we we'd we'll we're we've were
    weren't what what's when when's where where's which while who who's whom why why's will with
    won't would wouldn't yeah yes you you'd you'll you're you've your yours yourself yourselves
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, stripped, empty ones dropped."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def content_words(sentence: str) -> list[str]:
    """Lower-cased words of `sentence` that carry meaning (no stopwords, no one-letter words)."""
    return [w for w in _WORD.findall(sentence.lower()) if w not in STOPWORDS and len(w) > 1]


def summarize_extractive(text: str, max_sentences: int = 5) -> str:
    """The `max_sentences` most representative sentences of `text`, in their original order."""
    if max_sentences < 1:
        raise ValueError("max_sentences must be at least 1")
    sentences = split_sentences(text)
    if len(sentences) <= max_sentences:
        return text.strip()
    words = [content_words(s) for s in sentences]
    counts = Counter(w for ws in words for w in ws)
    if not counts:
        return " ".join(sentences[:max_sentences])
    top = max(counts.values())

    def score(index: int) -> float:
        # Frequent words score high; dividing by sqrt(length) stops long sentences winning by size
        # alone while still preferring a full sentence to a two-word fragment.
        ws = words[index]
        if not ws:
            return 0.0
        return sum(counts[w] / top for w in set(ws)) / math.sqrt(len(ws))

    ranked = sorted(range(len(sentences)), key=lambda i: (-score(i), i))
    chosen = sorted(ranked[:max_sentences])
    return " ".join(sentences[i] for i in chosen)
