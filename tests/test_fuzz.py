"""Hypothesis fuzzing: the audio validator on random and mutated bytes, every exporter on arbitrary unicode.

Contracts: the validator returns an AudioInfo or raises InputError, never anything else; exporters never
crash, keep the SRT/VTT cue structure, and never let user text become markup. Case counts are printed at
the end of the module (run with -s); WORKBENCH_FUZZ_SCALE=10 runs ten times as many cases.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.audio.probe import AudioInfo, probe, validate_file
from core.audio.sniff import sniff_kind
from core.config import load_settings
from core.errors import InputError
from core.transcripts.export.docs import escape_markdown, export_file, to_markdown
from core.transcripts.export.text import render, to_srt, to_vtt
from core.transcripts.types import Segment, TranscriptRecord
from tests.conftest import FIXTURES

SCALE = float(os.environ.get("WORKBENCH_FUZZ_SCALE", "1"))
CASES: Counter[str] = Counter()
FMT_FIXTURES = sorted(p.name for p in FIXTURES.glob("fmt_*"))
_TIMING = re.compile(r"^\d{2}:\d{2}:\d{2}[,.]\d{3} --> \d{2}:\d{2}:\d{2}[,.]\d{3}$")
_MD_SPECIAL = set("\\`*_{}[]<>()#+!|~&$")
_WORK = Path(tempfile.mkdtemp(prefix="fuzz-"))
_SETTINGS = load_settings(secrets_file=None, data_dir=_WORK / "data", max_duration_s=600)


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        derandomize=SCALE == 1,  # CI runs the same cases every time; a scaled run explores new ones
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    shutil.rmtree(_WORK, ignore_errors=True)
    total = sum(CASES.values())
    print(f"\nfuzz cases tried: {total} " + json.dumps(dict(sorted(CASES.items()))))


# ---- the validator -----------------------------------------------------------------------------------------


def _validate(data: bytes, target: str) -> None:
    CASES[target] += 1
    path = _WORK / f"{target}.bin"
    path.write_bytes(data)
    try:
        info = validate_file(path, "upload.mp3", _SETTINGS)
    except InputError as exc:
        assert str(exc).startswith("upload.mp3: ") and len(str(exc)) < 400
        return
    assert isinstance(info, AudioInfo)
    assert info.duration_s > 0 and 1_000 <= info.sample_rate <= 384_000 and 1 <= info.channels <= 32


@fuzz(3000)
@given(st.binary(max_size=1024))
def test_sniff_kind_names_a_kind_or_none_for_any_bytes(data: bytes) -> None:
    CASES["sniff_kind"] += 1
    kind = sniff_kind(data)
    assert kind is None or isinstance(kind, str)


@fuzz(300)
@given(st.binary(max_size=2048))
def test_validator_refuses_random_bytes_cleanly(data: bytes) -> None:
    _validate(data, "validate_random")


@dataclass(frozen=True)
class Mutation:
    """A real fixture with a few bytes changed, cut short and/or with bytes inserted (a small repr to replay)."""

    fixture: str
    edits: tuple[tuple[int, int], ...]
    cut: int | None
    insert: tuple[int, bytes] | None

    def apply(self) -> bytes:
        data = bytearray((FIXTURES / self.fixture).read_bytes())
        for where, value in self.edits:
            data[where % len(data)] = value
        if self.cut is not None:
            del data[self.cut % (len(data) + 1) :]
        if self.insert is not None:
            at = self.insert[0] % (len(data) + 1)
            data[at:at] = self.insert[1]
        return bytes(data)


# Half the edits land in the first 512 bytes, where headers and sizes live.
_where = st.integers(0, 511) | st.integers(0, 1 << 20)
mutations = st.builds(
    Mutation,
    st.sampled_from(FMT_FIXTURES),
    st.lists(st.tuples(_where, st.integers(0, 255)), max_size=6).map(tuple),
    st.none() | st.integers(0, 1 << 20),
    st.none() | st.tuples(st.integers(0, 1 << 20), st.binary(min_size=1, max_size=64)),
)


# Found by this fuzzing; the fix belongs in core/audio.py (outside this change): these xfail until it lands.
NO_DECODER = Mutation("fmt_speech.webm", ((290, 0),), None, None)


@fuzz(500)
@given(mutations)
@example(NO_DECODER)
def test_validator_returns_info_or_input_error_for_mutated_fixtures(mutation: Mutation) -> None:
    _validate(mutation.apply(), "validate_mutated")


@fuzz(150)
@given(mutations)
@example(NO_DECODER)
def test_probe_alone_keeps_the_contract(mutation: Mutation) -> None:
    CASES["probe_mutated"] += 1
    path = _WORK / "probe.bin"
    path.write_bytes(mutation.apply())
    with contextlib.suppress(InputError):
        assert isinstance(probe(path, "x.wav"), AudioInfo)


# ---- the exporters ---------------------------------------------------------------------------------------

_text = st.text(max_size=120)
_speaker = st.none() | st.sampled_from(["SPEAKER_1", "SPEAKER_2"]) | st.text(max_size=24)


@st.composite
def records(draw: st.DrawFn) -> TranscriptRecord:
    segments = []
    t = 0.0
    for _ in range(draw(st.integers(0, 6))):
        length = draw(st.floats(0.0, 3600.0, allow_nan=False))
        segments.append(Segment(t, t + length, draw(_text), draw(_speaker)))
        t += length
    names = draw(st.dictionaries(st.sampled_from(["SPEAKER_1", "SPEAKER_2"]), st.text(max_size=24), max_size=2))
    return TranscriptRecord(
        id=1,
        owner=draw(st.text(min_size=1, max_size=20)),
        owner_id=1,
        display_name=draw(st.text(max_size=80)),
        provider="mock",
        model="mock-1",
        language=None,
        text=" ".join(s.text for s in segments),
        segments=segments,
        summary=draw(st.none() | _text),
        summary_model=None,
        duration_s=t,
        revision=1,
        created_at=datetime(2026, 1, 2, 3, 4, 5),
        updated_at=datetime(2026, 1, 2, 3, 4, 5),
        tags=draw(st.lists(st.text(max_size=10), max_size=2)),
        speaker_names=names,
    )


def _cues(text: str, first_line: str | None) -> list[list[str]]:
    """Split a subtitle file into blocks of four lines each: (index or timing, ..., text, blank)."""
    lines = text.split("\n")
    if first_line is not None:
        assert lines[:2] == [first_line, ""]
        lines = lines[2:]
    return [lines[i : i + 4] for i in range(0, len(lines) - 1, 4)]


@fuzz(1000)
@given(records())
def test_text_exports_keep_their_structure_and_stay_inert(record: TranscriptRecord) -> None:
    CASES["export_text"] += 1
    n = len(record.segments)
    srt = to_srt(record)
    blocks = [b for b in srt.split("\n")]
    assert len(blocks) == 4 * n or (n == 0 and srt == "")
    for i in range(n):
        index, timing, body, blank = blocks[4 * i : 4 * i + 4]
        assert index == str(i + 1) and _TIMING.match(timing) and blank == ""
        assert "-->" not in body and not re.search(r"<[^\u200b]", body) and not re.search(r"\{[^\u200b]", body)

    vtt = to_vtt(record)
    lines = vtt.split("\n")
    assert lines[:2] == ["WEBVTT", ""] and len(lines) == 2 + 3 * n
    for i in range(n):
        timing, body, blank = lines[2 + 3 * i : 5 + 3 * i]
        assert _TIMING.match(timing) and blank == ""
        assert "-->" not in body and "\n" not in body
        payload = body.split(">", 1)[1] if body.startswith("<v ") else body
        assert "<" not in payload and ">" not in payload  # user text never becomes a tag
        if body.startswith("<v "):
            assert "<" not in body[3:].split(">", 1)[0]

    parsed = json.loads(render(record, "json"))
    assert [s["text"] for s in parsed["segments"]] == [s.text for s in record.segments]
    assert isinstance(render(record, "txt"), str)


def _unescaped(markdown: str) -> list[str]:
    found, i = [], 0
    while i < len(markdown):
        if markdown[i] == "\\":
            i += 2
            continue
        if markdown[i] in _MD_SPECIAL:
            found.append(markdown[i])
        i += 1
    return found


@fuzz(1000)
@given(st.text(max_size=200))
def test_escape_markdown_leaves_no_active_character(text: str) -> None:
    CASES["escape_markdown"] += 1
    assert _unescaped(escape_markdown(text)) == []


@fuzz(300)
@given(records())
def test_markdown_export_escapes_every_piece_of_user_text(record: TranscriptRecord) -> None:
    CASES["export_md"] += 1
    markdown = to_markdown(record)
    title = markdown.split("\n", 1)[0]
    assert title.startswith("# ") and _unescaped(title[2:]) == []
    for line in markdown.split("\n"):
        if line.startswith("**["):  # a segment line: **[stamp] speaker:** text
            head, _, body = line.partition("** ")
            assert _unescaped(body) == [] and _unescaped(head[3:].split("]", 1)[1]) == []


@fuzz(60)
@given(records())
def test_docx_export_never_crashes_and_holds_no_links(record: TranscriptRecord) -> None:
    CASES["export_docx"] += 1
    data = export_file(record, "docx").data
    with zipfile.ZipFile(io.BytesIO(data)) as docx:
        rels = docx.read("word/_rels/document.xml.rels").decode("utf-8")
        assert "hyperlink" not in rels.lower()


@fuzz(40)
@given(records())
def test_pdf_export_never_crashes_and_holds_no_links(record: TranscriptRecord) -> None:
    CASES["export_pdf"] += 1
    data = export_file(record, "pdf").data
    assert data.startswith(b"%PDF-") and b"/URI" not in data and b"/Link" not in data
