"""Document exports of a transcript (Markdown, DOCX, PDF) and one entry point for every download format."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from core.text import format_clock, one_line
from core.transcripts.export import text as export
from core.transcripts.types import TranscriptRecord

DOC_FORMATS = ("md", "docx", "pdf")
ALL_FORMATS = ("txt", "md", "srt", "vtt", "json", "docx", "pdf")
FORMAT_LABELS = {
    "txt": "Plain text (.txt)",
    "md": "Markdown (.md)",
    "srt": "Subtitles (.srt)",
    "vtt": "Web subtitles (.vtt)",
    "json": "JSON (.json)",
    "docx": "Word (.docx)",
    "pdf": "PDF (.pdf)",
}
MIME_TYPES = {
    "txt": "text/plain",
    "md": "text/markdown",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "json": "application/json",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}
# Markdown punctuation that could start a link, image, emphasis, code, HTML or a table cell.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&$])")
_MD_LIST_START = re.compile(r"^(\s*)([-=])", flags=re.MULTILINE)
_MD_NUMBERED = re.compile(r"^(\s*\d+)\.", flags=re.MULTILINE)


@dataclass(frozen=True)
class ExportFile:
    data: bytes
    mime: str
    file_name: str


def escape_markdown(text: str) -> str:
    """User text made inert in Markdown: no links, images, HTML, emphasis or list markers."""
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_NUMBERED.sub(r"\1\\.", _MD_LIST_START.sub(r"\1\\\2", text))


def _details(record: TranscriptRecord) -> list[tuple[str, str]]:
    rows = [
        ("Date", f"{record.created_at:%Y-%m-%d %H:%M} UTC"),
        ("Duration", format_clock(record.duration_s)),
        ("Language", record.language or "not detected"),
        ("Transcribed with", f"{record.provider} · {record.model}"),
        ("Owner", record.owner),
        ("Revision", str(record.revision)),
    ]
    if record.tags:
        rows.append(("Tags", ", ".join(record.tags)))
    return rows


def _lines(record: TranscriptRecord) -> list[tuple[str, str | None, str]]:
    """(timestamp, speaker label, text) for every segment with text."""
    out = []
    for seg in record.segments:
        text = one_line(seg.text)
        if text:
            label = record.speaker_label(seg.speaker)
            out.append((format_clock(seg.start), one_line(label) if label else None, text))
    return out


def to_markdown(record: TranscriptRecord) -> str:
    """A readable Markdown document; user text is escaped so nothing in it becomes a link or HTML."""
    parts = [f"# {escape_markdown(one_line(record.display_name))}", ""]
    parts += [f"- **{k}:** {escape_markdown(one_line(v))}" for k, v in _details(record)]
    if record.summary:
        parts += ["", "## Summary"]
        for para in record.summary.splitlines():
            if para.strip():
                parts += ["", escape_markdown(one_line(para))]
    parts += ["", "## Transcript", ""]
    for when, speaker, text in _lines(record):
        who = f" {escape_markdown(speaker)}:" if speaker else ""
        parts += [f"**[{when}]{who}** {escape_markdown(text)}", ""]
    return "\n".join(parts).rstrip() + "\n"


def to_docx(record: TranscriptRecord) -> bytes:
    """A Word document with a details table, the summary and one paragraph per segment."""
    from docx import Document
    from docx.shared import Pt, RGBColor

    doc = Document()
    doc.core_properties.title = one_line(record.display_name)
    doc.add_heading(one_line(record.display_name), level=1)
    table = doc.add_table(rows=0, cols=2)
    table.style = "Light List Accent 1"
    for key, value in _details(record):
        cells = table.add_row().cells
        cells[0].text, cells[1].text = key, one_line(value)
    if record.summary:
        doc.add_heading("Summary", level=2)
        for line in record.summary.splitlines():
            if line.strip():
                doc.add_paragraph(one_line(line))
    doc.add_heading("Transcript", level=2)
    for when, speaker, text in _lines(record):
        para = doc.add_paragraph()
        stamp_run = para.add_run(f"[{when}] ")
        stamp_run.font.color.rgb = RGBColor(0x6B, 0x72, 0x80)
        stamp_run.font.size = Pt(9)
        if speaker:
            para.add_run(f"{speaker}: ").bold = True
        para.add_run(text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


@lru_cache(maxsize=1)
def _font_files() -> tuple[Path, Path, frozenset[int]]:
    """Roboto (Latin, Greek, Cyrillic, Vietnamese) from the font-roboto package, and the characters it has."""
    import font_roboto
    from fontTools.ttLib import TTFont

    regular = Path(font_roboto.font_files["Roboto"])
    bold = Path(font_roboto.font_files["RobotoBold"])
    with TTFont(regular, lazy=True) as font:
        covered = frozenset(font.getBestCmap())
    return regular, bold, covered


def _printable(text: str, covered: frozenset[int]) -> str:
    # A character the font lacks would vanish silently; show a visible replacement mark instead.
    return "".join(ch if ord(ch) in covered or ch == " " else "\ufffd" for ch in text)


def to_pdf(record: TranscriptRecord) -> bytes:
    """A PDF with an embedded Unicode font, page numbers, the summary and every segment."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    regular, bold, covered = _font_files()

    def safe(text: str) -> str:
        return _printable(one_line(text), covered)

    class _Doc(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("Roboto", size=8)
            self.set_text_color(120, 120, 120)
            self.cell(0, 6, f"{safe(record.display_name)} · page {self.page_no()}/{{nb}}", align="C")

    pdf = _Doc(format="A4")
    pdf.set_title(one_line(record.display_name))
    pdf.set_creator("Transcription Workbench")
    pdf.set_creation_date(datetime(2000, 1, 1))  # a fixed date keeps exports of the same text identical
    pdf.add_font("Roboto", "", regular)
    pdf.add_font("Roboto", "B", bold)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    width = pdf.epw
    pdf.set_font("Roboto", "B", 17)
    pdf.multi_cell(width, 8, safe(record.display_name), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_text_color(90, 90, 90)
    for key, value in _details(record):
        pdf.set_font("Roboto", "B", 9)
        pdf.cell(32, 5, key)
        pdf.set_font("Roboto", "", 9)
        pdf.multi_cell(width - 32, 5, safe(value), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)

    def heading(title: str) -> None:
        pdf.ln(4)
        pdf.set_font("Roboto", "B", 13)
        pdf.cell(width, 8, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("Roboto", "", 10.5)

    if record.summary:
        heading("Summary")
        for para in record.summary.splitlines():
            if para.strip():
                pdf.multi_cell(width, 5.5, safe(para), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.ln(1)
    heading("Transcript")
    for when, speaker, text in _lines(record):
        pdf.set_text_color(110, 110, 110)
        pdf.set_font("Roboto", "", 8.5)
        head = f"{when}   {safe(speaker)}" if speaker else when
        pdf.cell(width, 5, head, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("Roboto", "", 10.5)
        pdf.multi_cell(width, 5.5, _printable(text, covered), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1.5)
    return bytes(pdf.output())


def file_stem(display_name: str) -> str:
    """A download file name stem from a display name: letters, digits, '-', '_' and '.' only."""
    name = one_line(display_name)
    stem, dot, ext = name.rpartition(".")
    stem = stem if dot and stem and len(ext) <= 5 else name
    stem = re.sub(r"[^\w.-]+", "_", stem, flags=re.UNICODE).strip("._")
    return stem[:80] or "transcript"


def export_file(record: TranscriptRecord, fmt: str) -> ExportFile:
    """One transcript as a downloadable file in any of ALL_FORMATS, speaker renames applied."""
    if fmt not in ALL_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    if fmt == "md":
        data = to_markdown(record).encode("utf-8")
    elif fmt == "docx":
        data = to_docx(record)
    elif fmt == "pdf":
        data = to_pdf(record)
    else:
        data = export.render(record, fmt).encode("utf-8")
    return ExportFile(data, MIME_TYPES[fmt], f"{file_stem(record.display_name)}.{fmt}")
