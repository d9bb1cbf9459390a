"""Markdown, DOCX and PDF exports (core.transcripts.export.docs), and the one entry point for every format."""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from datetime import datetime

import pytest

from core.transcripts.export import docs as export_docs
from core.transcripts.types import Segment, TranscriptRecord

UNICODE = "Grüße, Ελληνικά, Кириллица"
HOSTILE = "<script>alert(1)</script> [x](http://evil) ![i](http://evil/i.png) **bold** $x$"


def _record(**overrides) -> TranscriptRecord:
    fields = dict(
        id=7,
        owner="alice",
        owner_id=1,
        display_name="Board meeting.mp3",
        provider="mock",
        model="mock-1",
        language="en",
        text="",
        segments=[
            Segment(0.0, 2.5, f"Hello {UNICODE}.", "SPEAKER_1", 0.91),
            Segment(62.0, 65.0, HOSTILE, "SPEAKER_2", 0.55),
            Segment(3725.0, 3727.0, "   ", "SPEAKER_1"),  # blank segments are skipped
        ],
        summary="We agreed.\nAnd then <b>more</b>.",
        summary_model="mock-1",
        duration_s=3727.0,
        revision=3,
        created_at=datetime(2026, 3, 4, 5, 6),
        updated_at=datetime(2026, 3, 4, 5, 6),
        speaker_names={"SPEAKER_1": "Anna"},
        tags=["board"],
    )
    fields.update(overrides)
    return TranscriptRecord(**fields)


def _pdf_unicode(data: bytes) -> set[int]:
    """Every character the PDF's ToUnicode maps cover (what a reader can extract)."""
    found: set[int] = set()
    for match in re.finditer(rb">>\nstream\n(.*?)\nendstream", data, re.S):
        try:
            body = zlib.decompress(match.group(1))
        except zlib.error:
            body = match.group(1)  # fpdf2 leaves the ToUnicode CMap uncompressed
        for block in re.findall(rb"beginbfchar\n(.*?)endbfchar", body, re.S):
            found.update(int(dst, 16) for dst in re.findall(rb"<[0-9A-Fa-f]+> <([0-9A-Fa-f]+)>", block))
    return found


def test_markdown_has_speakers_timestamps_and_inert_user_text():
    md = export_docs.to_markdown(_record())
    assert md.startswith("# Board meeting.mp3\n")
    assert f"**[0:00] Anna:** Hello {UNICODE}." in md
    assert "**[1:02] SPEAKER\\_2:**" in md
    assert "<script>" not in md and "](http" not in md and "![" not in md and "**bold**" not in md
    assert "\\<script\\>" in md and "\\$x\\$" in md
    assert "## Summary" in md and "\\<b\\>more\\</b\\>" in md
    assert "1:02:07" in md  # duration


def test_markdown_escapes_line_starts_in_the_summary():
    md = export_docs.to_markdown(_record(summary="# not a heading\n- not a list\n1. nor this"))
    assert "\n\\# not a heading\n\n\\- not a list\n\n1\\. nor this\n" in md


def test_docx_contains_the_text_with_renamed_speakers():
    data = export_docs.to_docx(_record())
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        xml = z.read("word/document.xml").decode("utf-8")
    assert "Anna: " in xml and UNICODE in xml and "SPEAKER_2: " in xml
    assert "&lt;script&gt;" in xml  # stored as text, never as markup
    assert "We agreed." in xml and "[1:02] " in xml


def test_docx_survives_control_characters():
    record = _record(segments=[Segment(0, 1, "bell\x07 and nul\x00 here", None)], display_name="x\x01.wav")
    data = export_docs.to_docx(record)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert "bell and nul here" in z.read("word/document.xml").decode("utf-8")


def test_pdf_embeds_a_unicode_font_with_greek_and_cyrillic():
    data = export_docs.to_pdf(_record())
    assert data.startswith(b"%PDF-")
    assert b"/FontFile2" in data and b"Roboto" in data
    wanted = {ord(ch) for ch in UNICODE if not ch.isspace()}
    assert wanted <= _pdf_unicode(data)


def test_pdf_replaces_characters_the_font_lacks_visibly():
    data = export_docs.to_pdf(_record(segments=[Segment(0, 1, "会议 ok", None)]))
    mapped = _pdf_unicode(data)
    assert 0xFFFD in mapped and ord("会") not in mapped


def test_pdf_of_a_long_transcript_has_several_pages():
    segments = [Segment(i * 5.0, i * 5.0 + 5, f"Sentence number {i} " * 6, "SPEAKER_1") for i in range(200)]
    data = export_docs.to_pdf(_record(segments=segments))
    assert data.count(b"/Type /Page\n") > 3


@pytest.mark.parametrize("fmt", export_docs.ALL_FORMATS)
def test_every_format_exports_with_a_safe_file_name(fmt):
    out = export_docs.export_file(_record(display_name="Q3 review: <final>.m4a"), fmt)
    assert out.data
    assert out.mime == export_docs.MIME_TYPES[fmt]
    assert out.file_name == f"Q3_review_final.{fmt}"


BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


@pytest.mark.parametrize("fmt", export_docs.ALL_FORMATS)
def test_no_bidi_control_survives_in_any_format(fmt):
    # A right-to-left override in user text could make an export read differently from what it says.
    record = _record(
        display_name="invoice\u202egnp.mp3",
        segments=[Segment(0.0, 2.0, f"pay \u202eevil\u2066 {BIDI} now", "SPEAKER_1")],
        speaker_names={"SPEAKER_1": "An\u202ena"},
        summary="We \u2067agreed\u2069.",
    )
    data = export_docs.export_file(record, fmt).data
    if fmt == "docx":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            texts = [z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml")]
        assert "evil" in "".join(texts)
    elif fmt == "pdf":
        mapped = _pdf_unicode(data)
        assert ord("e") in mapped
        texts = ["".join(map(chr, mapped))]
    else:
        texts = [data.decode("utf-8")]
        assert "evil" in texts[0]
    assert not any(ch in text for text in texts for ch in BIDI)


def test_export_text_formats_apply_speaker_renames():
    srt = export_docs.export_file(_record(), "srt").data.decode()
    assert "Anna: Hello" in srt and "00:00:00,000 --> 00:00:02,500" in srt


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown export format"):
        export_docs.export_file(_record(), "rtf")


@pytest.mark.parametrize(
    ("name", "stem"),
    [("talk.mp3", "talk"), ("no extension", "no_extension"), ("....", "transcript"), ("a.b.c.wav", "a.b.c")],
)
def test_file_stem(name, stem):
    assert export_docs.file_stem(name) == stem
