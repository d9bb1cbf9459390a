"""core.text: the one human clock, subtitle timecodes, the one scrubber and the one secret redactor."""

from __future__ import annotations

import pytest

from core.text import REDACTED, format_clock, format_mb, format_timecode, one_line, redact, scrub

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00"), (59.9, "0:59"), (62.9, "1:02"), (123, "2:03"), (3600, "1:00:00"), (3725, "1:02:05"), (-5, "0:00")],
)
def test_format_clock(seconds: float, text: str) -> None:
    assert format_clock(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "sep", "text"),
    [
        (0, ",", "00:00:00,000"),
        (123.4567, ",", "00:02:03,457"),
        (3723.5, ".", "01:02:03.500"),
        (-1, ".", "00:00:00.000"),
    ],
)
def test_format_timecode(seconds: float, sep: str, text: str) -> None:
    assert format_timecode(seconds, sep) == text


def test_format_mb_rounds_up() -> None:
    assert format_mb(1024 * 1024) == "1 MB" and format_mb(1024 * 1024 + 1) == "1.1 MB"


def test_scrub_removes_bidi_and_format_marks_and_spaces_controls() -> None:
    assert scrub(f"a{BIDI}b\u200b\ufeff\udcffc") == "abc"
    assert scrub("a\x07b\x00c\rd\u2028e\u2029f\x85g") == "a b c d e f g"
    assert scrub("a\nb\tc", keep="\n\t") == "a\nb\tc" and scrub("a\nb\tc") == "a b c"


def test_scrub_keeps_the_joiners_scripts_and_emoji_need() -> None:
    persian, family = "می\u200cخواهم", "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert scrub(persian) == persian and scrub(family) == family


def test_one_line_collapses_whitespace() -> None:
    assert one_line("  mallory\x00\u202e<script>\n\n x ") == "mallory <script> x"


def test_redact_covers_both_old_patterns_and_the_configured_key() -> None:
    # The logger's patterns: sk- keys, bearer tokens in any case after any whitespace.
    assert redact("key sk-proj-abcdefghijklmnop here") == f"key {REDACTED} here"
    assert redact('{"authorization": "bearer\tabcdefghijklmnopqrstuvwxyz"}') == (
        f'{{"authorization": "bearer\t{REDACTED}"}}'  # the JSON line stays valid
    )
    # The OpenAI error-message patterns: masked keys, and a token after "Bearer " of any shape.
    assert redact("Incorrect API key provided: sk-abc12***********wxyz.") == f"Incorrect API key provided: {REDACTED}."
    assert redact("Bad header Authorization: Bearer x/y+z=") == f"Bad header Authorization: Bearer {REDACTED}"
    # The configured secrets, longest first; values too short to be secrets are left alone.
    assert redact("pw hunter2-long and hunter2-longer", ["hunter2-long", "hunter2-longer"]) == (
        f"pw {REDACTED} and {REDACTED}"
    )
    assert redact("short text", ["short"]) == "short text"
