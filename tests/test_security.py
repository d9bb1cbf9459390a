"""Hostile input in one table (refused clearly or rendered inert, nothing stored half-way), and access control."""

from __future__ import annotations

import io
import json
import re
import struct
import subprocess
import sys
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.db.models import AudioFile, Transcript, UsageEvent
from core.errors import InputError, NotFoundError
from core.identity import audit, sharing
from core.identity.types import UserRecord
from core.identity.users import get_user
from core.providers.mock import MockProvider
from core.transcripts import repository as repo
from core.transcripts.export.docs import ALL_FORMATS, export_file, file_stem
from core.transcripts.export.text import render
from core.transcripts.search import search
from core.transcripts.service import TranscribeOptions, export_transcript, summarize_transcript, transcribe_file
from core.transcripts.types import Segment, TranscriptRecord
from core.workbench import Workbench
from tests.conftest import FIXTURES, REPO_ROOT, cli_env, make_users
from ui.text import md

# ---- building hostile files ----------------------------------------------------------------------------------


def fixture(name: str) -> Callable[[], bytes]:
    return lambda: (FIXTURES / name).read_bytes()


def wav_header(rate: int, channels: int, bits: int = 16, data: bytes = b"\x00" * 4000) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate & 0xFFFFFFFF, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


@cache
def silent_flac(hours: float, rate: int = 8000) -> bytes:
    """A valid FLAC of digital silence, built frame by frame (constant subframes): 10 hours in ~110 KB."""
    block = 32768
    frames = int(hours * 3600 * rate / block) + 1
    info = struct.pack(">HH", block, block) + b"\x00" * 6
    info += ((rate << 44) | (15 << 36) | frames * block).to_bytes(8, "big") + b"\x00" * 16  # mono, 16 bit
    out = [b"fLaC", b"\x80" + len(info).to_bytes(3, "big"), info]
    for n in range(frames):
        head = bytes([0xFF, 0xF8, 0xF4, 0x08]) + chr(n).encode("utf-8")  # 32768 samples, 8 kHz, mono, 16 bit
        frame = head + bytes([_crc8(head)]) + b"\x00\x00\x00"  # one CONSTANT subframe of value 0
        out.append(frame + _crc16(frame).to_bytes(2, "big"))
    return b"".join(out)


MP3 = fixture("fmt_speech.mp3")
WAV = fixture("fmt_speech.wav")
PDF, ZIP = fixture("bad_pdf.mp3"), fixture("bad_zip.mp3")
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 500
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
ID3_TAG = b"ID3\x04\x00\x00\x00\x00\x00\x10" + b"\x00" * 16

# Strings that are markup in some renderer: HTML, Markdown links and images, Streamlit's syntax, subtitle cues.
MARKUP = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click me](javascript:alert(1))",
    "![tracker](http://127.0.0.1/pixel.png)",
    "<https://127.0.0.1/autolink>",
    "**bold** _it_ `code` # heading | table | ~~strike~~ $x^2$ :red[colour] :material/warning:",
    "line one\n\n2\n00:00:01,000 --> 00:00:02,000\n<b>forged cue</b>",
    "{\\an8}{\\pos(1,1)} &amp; &lt;b&gt;",
    '=HYPERLINK("http://127.0.0.1","x")',
    "\u202eevil\u2066 bidi\u200f and NUL\x00 and bell\x07",
]
# Search strings: FTS5 operators, quotes, column filters, SQL, nothing at all, far too much.
FTS = '" | \' | NEAR(alpha beta) | alpha OR beta | alpha AND NOT beta | * | text:alpha | ^alpha | ( | ) | "unbalanced'
FTS_QUERIES = [*FTS.split(" | "), 'al"pha', "\x00", "", "   ", "-alpha", "+alpha", "{alpha}", "alpha" * 200, "alpha*",
               "'; DROP TABLE transcripts; --", "\u202e", "🙂", " ".join("abcdefghijklmnopqrst")]  # fmt: skip
HOSTILE_NAMES = [
    "../../etc/passwd.mp3",
    "..\\..\\Windows\\system32\\evil.mp3",
    "re\x00port.mp3",
    "a\x07b\x1b[31mred\r\nc\td.mp3",
    "invoice\u202egnp.mp3",
    "\u2066\u2067\u2068isolates\u2069.mp3",
    "<script>alert(1)</script>.mp3",
    "<img src=x onerror=alert(1)>.mp3",
    "[x](javascript:alert(1)).mp3",
    "=cmd|' /C calc'!A0.mp3",
    "x" * 1000 + ".mp3",
    "y" * 1000,
    ".",
    "..",
    "",
    "   ",
    "\x00" * 10,
    "ｆｕｌｌ\u3000width.mp3",
    "e\u0301\u0301\u0301.mp3",
]


@dataclass(frozen=True)
class Hostile:
    id: str
    kind: str  # "upload" (a file), "name" (a good file, a hostile name), "edit", "speaker", "search"
    payload: Callable[[], bytes] | str = ""
    name: str = "upload.mp3"
    refusal: str | None = None  # a regex the refusal must match; None: accepted and rendered inert
    known_bug: str | None = None  # outside this change's files: runs as a strict xfail until fixed


def upload(id: str, data: Callable[[], bytes] | bytes, refusal: str | None, name: str = "upload.mp3",
           known_bug: str | None = None) -> Hostile:  # fmt: skip
    return Hostile(id, "upload", data if callable(data) else (lambda: data), name, refusal, known_bug)


UNREADABLE = "could not be read|truncated or corrupt|could not be decoded"
TABLE = [
    upload("pdf renamed .mp3", PDF, "looks like a PDF document, not audio"),
    upload("zip renamed .mp3", ZIP, r"looks like a ZIP archive \(or an Office document\)"),
    upload("elf executable renamed .mp3", fixture("bad_elf.mp3"), r"looks like a Linux program"),
    upload("windows exe renamed .mp3", EXE, r"looks like a Windows program \(EXE/DLL\)"),
    upload("png renamed .mp3", fixture("bad_png.mp3"), "looks like a PNG image"),
    upload("html with script renamed .mp3", HTML, r"looks like a web page \(HTML\)"),
    upload("svg with script renamed .mp3", SVG, "looks like an XML document"),
    upload("text renamed .mp3", fixture("bad_text.mp3"), "looks like a text file"),
    upload("polyglot pdf then mp3", lambda: PDF() + MP3(), "looks like a PDF document"),
    upload("polyglot gif then mp3", lambda: b"GIF89a" + b"\x00" * 20 + MP3(), "looks like a GIF image"),
    upload("polyglot zip then mp3", lambda: ZIP() + MP3(), "looks like a ZIP archive"),
    upload("polyglot id3 tag around a pdf", lambda: ID3_TAG + PDF(), UNREADABLE),
    upload("0 bytes", b"", r"is empty \(0 bytes\)"),
    upload("truncated mp3", fixture("bad_truncated.mp3"), "truncated or corrupt"),
    upload("truncated m4a", fixture("bad_truncated.m4a"), UNREADABLE),
    upload("wav header only", lambda: WAV()[:30], UNREADABLE),
    upload("wav with no samples", fixture("bad_nodata.wav"), r"no audio data in it \(0 seconds\)"),
    upload("10 hours of silence", lambda: silent_flac(10), r"is 10:00:0\d long; the limit is 4:00:00"),
    upload("sample rate 1 Hz", wav_header(1, 1), "sample rate of 1 Hz; audio must be between 1000 and 384000"),
    upload("sample rate 500 Hz", fixture("bad_samplerate.wav"), "sample rate of 500 Hz"),
    upload("sample rate 0 Hz", wav_header(0, 1), UNREADABLE),
    upload("sample rate 4 GHz", wav_header(4_000_000_000, 1), UNREADABLE),
    upload("33 channels", wav_header(8000, 33), "has 33 audio channels; at most 32"),
    upload("40 channels", fixture("bad_channels.wav"), "has 40 audio channels"),
    upload("0 channels", wav_header(8000, 0), UNREADABLE),
    upload("65535 channels", wav_header(8000, 65535), UNREADABLE),
    upload(
        "0 bits per sample",
        wav_header(8000, 1, bits=0),
        UNREADABLE,
    ),
    upload("video without sound", fixture("bad_video_no_audio.mp4"), "video without a sound track"),
    # Accepted: audio that is really audio, whatever trails it, is stored under our name and served as audio.
    upload("mp3 with a zip appended", lambda: MP3() + ZIP(), None),
    upload("wav with a script appended", lambda: WAV() + b"<script>alert(1)</script>", None),
    # A refusal names the file by its sanitized name: no path, control or bidi characters in the sentence.
    upload("refusal of a hostile name", PDF, r"^evil\.mp3: looks like a PDF", name="..\\..\\x/e\x00vi\u202el.mp3"),
    *[Hostile(f"name {i}", "name", name=name) for i, name in enumerate(HOSTILE_NAMES)],
    *[Hostile(f"edit {i}", "edit", text) for i, text in enumerate(MARKUP)],
    *[Hostile(f"speaker {i}", "speaker", text) for i, text in enumerate(MARKUP)],
    *[Hostile(f"search {i}", "search", text) for i, text in enumerate(FTS_QUERIES)],
]


# ---- checks ------------------------------------------------------------------------------------------------

_MD_SPECIAL = set("\\`*_{}[]<>()#+!|~&$")


def _unescaped_markdown(text: str) -> list[str]:
    found, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in _MD_SPECIAL:
            found.append(text[i])
        i += 1
    return found


def stored_nothing(wb: Workbench) -> bool:
    with wb.Session() as s:
        rows = [s.scalar(select(func.count()).select_from(t)) for t in (AudioFile, Transcript, UsageEvent)]
    return rows == [0, 0, 0] and not any(wb.settings.audio_dir.iterdir()) and not any(wb.settings.tmp_dir.iterdir())


def assert_safe_name(name: str) -> None:
    assert name and len(name) <= 120 and "/" not in name and "\\" not in name
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name)
    assert not any(ch in name for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
    assert re.fullmatch(r"[\w.-]+", file_stem(name))


def assert_inert_everywhere(record: TranscriptRecord) -> None:
    """Every export and the UI's Markdown of this record leave user text as text."""
    n = len(record.segments)
    srt = render(record, "srt").split("\n")
    assert len(srt) == 4 * n and all(srt[4 * i] == str(i + 1) for i in range(n))
    for i in range(n):
        body = srt[4 * i + 2]
        assert "-->" not in body and not re.search(r"<[^\u200b]", body) and not re.search(r"\{[^\u200b]", body)
    vtt = render(record, "vtt").split("\n")
    assert len(vtt) == 2 + 3 * n
    for i in range(n):
        body = vtt[3 + 3 * i]
        payload = body.split(">", 1)[1] if body.startswith("<v ") else body
        assert "<" not in payload and ">" not in payload and "-->" not in body
    assert [s["text"] for s in json.loads(render(record, "json"))["segments"]] == [s.text for s in record.segments]
    markdown = export_file(record, "md").data.decode("utf-8")
    assert "alert(1)" not in markdown and not re.search(r"(?<!\\)(<|\]\(|!\[)", markdown)
    for line in markdown.split("\n"):
        if line.startswith("**["):
            head, _, body = line.partition("** ")
            assert _unescaped_markdown(body) == [] and _unescaped_markdown(head[3:].split("]", 1)[1]) == []
    assert _unescaped_markdown(markdown.split("\n", 1)[0][2:]) == []
    with zipfile.ZipFile(io.BytesIO(export_file(record, "docx").data)) as docx:
        assert "hyperlink" not in docx.read("word/_rels/document.xml.rels").decode().lower()
        xml = docx.read("word/document.xml").decode()
        assert "<script" not in xml and "<img" not in xml
    pdf = export_file(record, "pdf").data
    assert b"/URI" not in pdf and b"/JavaScript" not in pdf and b"/Link" not in pdf
    for text in [record.display_name, *(s.text for s in record.segments), *record.speaker_names.values()]:
        shown = md(text)
        assert _unescaped_markdown(shown) == [] and not re.search(r"(?<!\\):", shown)


def _good_upload(wb: Workbench, user: UserRecord, tmp_path: Path, name: str) -> TranscriptRecord:
    source = tmp_path / "in.bin"
    source.write_bytes(MP3())
    return transcribe_file(wb, source, name, user, TranscribeOptions(), provider=MockProvider()).transcript


# ---- the one table-driven test ------------------------------------------------------------------------------


PARAMS = [
    pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, raises=AttributeError, reason=c.known_bug)])
    if c.known_bug
    else pytest.param(c, id=c.id)
    for c in TABLE
]


@pytest.mark.parametrize("case", PARAMS)
def test_hostile_input(case: Hostile, wb: Workbench, alice: UserRecord, bob: UserRecord, tmp_path: Path) -> None:
    if case.kind == "upload":
        assert callable(case.payload)
        source = tmp_path / "in.bin"
        source.write_bytes(case.payload())
        if case.refusal is not None:
            with pytest.raises(InputError) as info:
                transcribe_file(wb, source, case.name, alice, TranscribeOptions(), provider=MockProvider())
            assert re.search(case.refusal, str(info.value)), str(info.value)
            assert_safe_name(str(info.value).split(": ", 1)[0])
            assert stored_nothing(wb)  # no audio, no temp file, no row, no charge
            return
        record = transcribe_file(wb, source, case.name, alice, TranscribeOptions(), provider=MockProvider()).transcript
        stored = Path(record.audio_path or "")
        assert stored.parent == wb.settings.audio_dir and stored.name in (
            f"{record.sha256}.mp3",
            f"{record.sha256}.wav",
        )
        assert not any(wb.settings.tmp_dir.iterdir())
        return
    if case.kind == "name":
        record = _good_upload(wb, alice, tmp_path, case.name)
        assert_safe_name(record.display_name)
        assert_inert_everywhere(record)
        for fmt in ALL_FORMATS:
            assert re.fullmatch(r"[\w.-]+\.\w+", export_file(record, fmt).file_name)
        return
    assert isinstance(case.payload, str)
    record = _good_upload(wb, alice, tmp_path, "meeting.mp3")
    if case.kind == "search":
        other = _good_upload(wb, bob, tmp_path, "bobs.mp3")
        repo.save_revision(wb.Session, other.id, bob, [Segment(0, 1, f"alpha beta {case.payload}")])
        hits = search(wb.Session, alice, case.payload)  # never an error, never someone else's transcript
        assert all(hit.transcript_id == record.id for hit in hits)
        assert all(h.transcript_id in (record.id, other.id) for h in search(wb.Session, alice, "alpha"))
        return
    if case.kind == "edit":
        segments = [Segment(0.0, 1.0, case.payload, "SPEAKER_1"), Segment(1.0, 2.0, "plain", None)]
        repo.save_revision(wb.Session, record.id, alice, segments)
    else:
        segments = [replace(s, speaker="SPEAKER_1") for s in record.segments]
        repo.save_revision(wb.Session, record.id, alice, segments, speaker_names={"SPEAKER_1": case.payload})
    edited = repo.get_transcript(wb.Session, record.id, alice)
    assert edited.revision == 2  # stored as typed: inert on the way out, not mangled on the way in
    assert case.payload in (edited.segments[0].text, edited.speaker_names.get("SPEAKER_1"))
    assert_inert_everywhere(edited)


def test_the_table_covers_every_kind_of_hostile_input():
    kinds = {c.kind for c in TABLE}
    assert kinds == {"upload", "name", "edit", "speaker", "search"} and len(TABLE) >= 80


# ---- access control ------------------------------------------------------------------------------------------


@pytest.fixture
def alices(wb: Workbench, alice: UserRecord, tmp_path: Path) -> TranscriptRecord:
    record = _good_upload(wb, alice, tmp_path, "alice-private.mp3")
    repo.save_revision(wb.Session, record.id, alice, [Segment(0, 1, "zebra confidential")])
    return repo.get_transcript(wb.Session, record.id, alice)


def _same_as_missing(call: Callable[[int], object], real_id: int) -> None:
    with pytest.raises(NotFoundError) as other:
        call(real_id)
    with pytest.raises(NotFoundError) as missing:
        call(987654)
    assert str(other.value).replace(str(real_id), "N") == str(missing.value).replace("987654", "N")


def test_another_members_transcript_answers_exactly_like_a_missing_one(wb, alice, bob, alices):
    s, t = wb.Session, alices.id
    _same_as_missing(lambda i: repo.get_transcript(s, i, bob), t)
    _same_as_missing(lambda i: repo.list_revisions(s, i, bob), t)
    _same_as_missing(lambda i: repo.save_revision(s, i, bob, [Segment(0, 1, "x")]), t)
    _same_as_missing(lambda i: repo.delete_transcript(s, i, bob), t)
    _same_as_missing(lambda i: export_transcript(wb, i, bob, "txt"), t)
    _same_as_missing(lambda i: summarize_transcript(wb, i, bob, provider=MockProvider()), t)
    _same_as_missing(lambda i: sharing.share_transcript(wb, i, bob, "bob"), t)
    _same_as_missing(lambda i: sharing.shared_with(wb, i, bob), t)
    assert repo.list_transcripts(s, bob) == [] and search(s, bob, "zebra") == []
    assert repo.get_transcript(s, t, alice).text == "zebra confidential"


def test_sharing_lets_a_member_read_but_not_change(wb, alice, bob, admin, alices):
    s, t = wb.Session, alices.id
    sharing.share_transcript(wb, t, alice, "bob")
    sharing.share_transcript(wb, t, alice, "bob")  # idempotent
    assert sharing.shared_with(wb, t, bob) == ["bob"]
    assert (
        repo.get_transcript(s, t, bob, audio_dir=str(wb.settings.audio_dir)).audio_path
        == repo.get_transcript(s, t, alice, audio_dir=str(wb.settings.audio_dir)).audio_path
    )
    assert [r.id for r in repo.list_transcripts(s, bob)] == [t]
    assert [h.transcript_id for h in search(s, bob, "zebra")] == [t]
    assert export_transcript(wb, t, bob, "txt").data.decode().strip() == "zebra confidential"
    for change in (
        lambda: repo.save_revision(s, t, bob, [Segment(0, 1, "defaced")]),
        lambda: repo.delete_transcript(s, t, bob),
        lambda: summarize_transcript(wb, t, bob, provider=MockProvider()),
        lambda: sharing.share_transcript(wb, t, bob, "root"),
    ):
        with pytest.raises(InputError, match="shared with you to read; only its owner or an administrator"):
            change()
    assert repo.get_transcript(s, t, alice).text == "zebra confidential"
    with pytest.raises(InputError, match="owns transcript"):
        sharing.share_transcript(wb, t, alice, "alice")
    with pytest.raises(NotFoundError, match="user 'nobody' not found"):
        sharing.share_transcript(wb, t, alice, "nobody")
    sharing.unshare_transcript(wb, t, alice, "bob")
    with pytest.raises(NotFoundError):
        repo.get_transcript(s, t, bob)
    assert search(s, bob, "zebra") == [] and repo.list_transcripts(s, bob) == []
    actions = [(e.actor, e.action, e.detail) for e in audit.list_events(s) if e.action in ("share", "unshare")]
    assert actions == [("alice", "unshare", "with bob"), ("alice", "share", "with bob")]


def test_admins_see_and_may_change_everything(wb, admin, alices):
    assert repo.get_transcript(wb.Session, alices.id, admin).id == alices.id
    repo.save_revision(wb.Session, alices.id, admin, [Segment(0, 1, "moderated")])
    with pytest.raises(InputError, match="alice owns transcript"):
        sharing.share_transcript(wb, alices.id, admin, "alice")
    repo.delete_transcript(wb.Session, alices.id, admin)
    with pytest.raises(NotFoundError):
        repo.get_transcript(wb.Session, alices.id, admin)


def run_cli(data: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, input=stdin,
                          env=cli_env(data, WORKBENCH_PROVIDER="mock"), cwd=REPO_ROOT, timeout=120)  # fmt: skip


def test_users_cli_add_list_deactivate_and_audit(tmp_path):
    data = tmp_path / "data"
    piped = run_cli(data, "users", "add", "dora", "--role", "admin", "--password-stdin", stdin="s3cret-pass-1\n")
    assert piped.returncode == 0 and "s3cret" not in piped.stdout + piped.stderr
    generated = run_cli(data, "users", "add", "eve", "--role", "member")
    assert generated.returncode == 0
    password = generated.stdout.strip().rsplit(" ", 1)[1]
    assert len(password) >= 12
    dup = run_cli(data, "users", "add", "EVE", "--password-stdin", stdin="another-pass-1\n")
    assert dup.returncode == 2 and "already exists" in dup.stderr
    weak = run_cli(data, "users", "add", "fay", "--password-stdin", stdin="short\n")
    assert weak.returncode == 2 and "too short" in weak.stderr
    bad_role = run_cli(data, "users", "add", "gus", "--role", "root")
    assert bad_role.returncode == 2
    assert run_cli(data, "users", "deactivate", "eve").returncode == 0
    assert run_cli(data, "users", "deactivate", "nobody").returncode == 5
    listed = json.loads(run_cli(data, "users", "list", "--json").stdout)
    assert {(u["name"], u["role"], u["active"]) for u in listed} == {("dora", "admin", True), ("eve", "member", False)}
    assert run_cli(data, "users", "role", "eve", "admin").returncode == 0
    creds = (data / "credentials.yaml").read_text()
    assert password not in creds and "s3cret" not in creds
    from core.config import load_settings
    from core.identity.auth import check_password

    settings = load_settings(secrets_file=None, data_dir=data)
    assert check_password(settings, "eve", password) and check_password(settings, "dora", "s3cret-pass-1")
    wb = Workbench.open(settings)
    try:
        events = [(e.action, e.target) for e in audit.list_events(wb.Session)]
        assert ("user_add", "user dora") in events and ("user_deactivate", "user eve") in events
        assert ("role", "user eve") in events
        assert all(password not in (e.detail or "") for e in audit.list_events(wb.Session))
    finally:
        wb.close()


def test_cli_show_of_a_shared_transcript_and_exit_5_otherwise(tmp_path):
    data = tmp_path / "data"
    make_users(data, "alice", "bob")
    made = run_cli(data, "transcribe", str(FIXTURES / "fmt_speech.flac"), "--user", "alice", "--format", "json")
    tid = json.loads(made.stdout)["id"]
    other = run_cli(data, "transcripts", "show", str(tid), "--user", "bob")
    missing = run_cli(data, "transcripts", "show", "424242", "--user", "bob")
    assert other.returncode == missing.returncode == 5
    assert other.stderr.replace(str(tid), "N") == missing.stderr.replace("424242", "N")
    from core.config import load_settings

    wb = Workbench.open(load_settings(secrets_file=None, data_dir=data))
    try:
        alice = get_user(wb.Session, "alice")
        assert alice is not None
        sharing.share_transcript(wb, tid, alice, "bob")
    finally:
        wb.close()
    assert run_cli(data, "transcripts", "show", str(tid), "--user", "bob").returncode == 0
