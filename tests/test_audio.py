"""core.audio: content sniffing, the bounded probe, display names, and the refusal sentences, over committed fixtures.

The fixtures come from tests/fixtures/make_format_fixtures.py. Longer files for the end-of-file
(truncation) checks are encoded here with PyAV, so no test needs espeak-ng, sox or a system ffmpeg.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import wave
from array import array
from pathlib import Path

import av
import pytest

from core.audio.names import sanitize_display_name
from core.audio.probe import AudioInfo, probe
from core.audio.sniff import sniff_kind
from core.audio.store import sha256_file
from core.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures"


def _truth_seconds() -> float:
    """The phrase's real length: fmt_speech.wav's frame count over its rate, read without PyAV."""
    with wave.open(str(FIXTURES / "fmt_speech.wav")) as w:
        return w.getnframes() / w.getframerate()


TRUTH_S = _truth_seconds()

# (fixture, container, codec, ext, has_video): every accepted kind, each holding the same phrase.
GOOD = [
    ("fmt_speech.wav", "wav", "pcm_s16le", "wav", False),
    ("fmt_speech.mp3", "mp3", "mp3", "mp3", False),
    # Album art is an "attached picture" stream, not video.
    ("fmt_cover_art.mp3", "mp3", "mp3", "mp3", False),
    ("fmt_speech.m4a", "mp4", "aac", "m4a", False),
    ("fmt_speech.aac", "aac", "aac", "aac", False),
    ("fmt_speech.ogg", "ogg", "vorbis", "ogg", False),
    ("fmt_speech.opus", "ogg", "opus", "opus", False),
    ("fmt_speech.webm", "webm", "opus", "webm", False),
    ("fmt_speech.flac", "flac", "flac", "flac", False),
    ("fmt_speech.mp2", "mpeg", "mp2", "mp2", False),
    # Written to a pipe like a browser's MediaRecorder: no Duration, so it is measured from packets.
    ("fmt_stream_nodur.webm", "webm", "opus", "webm", False),
    ("fmt_video.mp4", "mp4", "aac", "mp4", True),
    ("fmt_video.mov", "mov", "aac", "mov", True),
    ("fmt_video.webm", "webm", "opus", "webm", True),
    # A WAV named .mp3: the content decides.
    ("fmt_wav_named.mp3", "wav", "pcm_s16le", "wav", False),
]

# (fixture, fragment of the reason): each bad fixture is refused for one reason.
BAD = [
    ("bad_empty.mp3", "is empty (0 bytes)"),
    ("bad_text.mp3", "looks like a text file, not audio"),
    ("bad_pdf.mp3", "looks like a PDF document, not audio"),
    ("bad_png.mp3", "looks like a PNG image, not audio"),
    ("bad_zip.mp3", "looks like a ZIP archive"),
    ("bad_elf.mp3", "looks like a Linux program (ELF executable), not audio"),
    # RIFF/WAVE magic then noise: FFmpeg cannot open it at all.
    ("bad_corrupt.wav", "looks like WAV audio but could not be read: the file is truncated or corrupt"),
    # A complete WAV header with no samples.
    ("bad_nodata.wav", "has no audio data in it"),
    # 30% of a VBR MP3 whose Xing header still says the full 0:07: the end-of-file check refuses it.
    # (A cut MP3 without such a header is a decodable prefix and is accepted: see fmt_cut_noxing.mp3.)
    ("bad_truncated.mp3", "is truncated or corrupt: it says it lasts 0:07 but the audio stops early"),
    # Half of an M4A with its index up front: the index promises samples that are not there.
    ("bad_truncated.m4a", "is truncated or corrupt: it says it lasts 0:07"),
    # Half of an M4A with its index at the end: there is no index, so nothing can be read.
    ("bad_nomoov.m4a", "looks like MP4 audio but could not be read"),
    ("bad_video_no_audio.mp4", "is a video without a sound track"),
    ("bad_samplerate.wav", "has a sample rate of 500 Hz; audio must be between 1000 and 384000 Hz"),
    ("bad_channels.wav", "has 40 audio channels; at most 32 are supported"),
    # Real audio in a container the product does not accept.
    ("bad_aiff.mp3", "looks like an AIFF audio file, not audio we accept"),
]


def test_every_fixture_is_in_a_table() -> None:
    listed = {row[0] for row in GOOD} | {row[0] for row in BAD} | {"fmt_cut_noxing.mp3"}
    on_disk = {p.name for p in FIXTURES.iterdir() if p.name.startswith(("fmt_", "bad_"))}
    assert on_disk == listed


def test_fixtures_stay_small() -> None:
    total = sum(p.stat().st_size for p in FIXTURES.iterdir() if p.name.startswith(("fmt_", "bad_")))
    assert total < 1024 * 1024


@pytest.mark.parametrize(("fixture", "container", "codec", "ext", "has_video"), GOOD)
def test_good_fixture_is_identified(fixture: str, container: str, codec: str, ext: str, has_video: bool) -> None:
    info = probe(FIXTURES / fixture)
    assert (info.container, info.codec, info.ext, info.has_video) == (container, codec, ext, has_video)
    assert info.duration_s == pytest.approx(TRUTH_S, abs=0.2)
    assert 8000 <= info.sample_rate <= 48000
    assert info.channels in (1, 2)


def test_nodur_webm_really_has_no_duration() -> None:
    """Guards the fixture: the packet-counting fallback is what measures it."""
    with av.open(str(FIXTURES / "fmt_stream_nodur.webm")) as container:
        assert container.duration is None
        assert container.streams.audio[0].duration is None


def test_cut_mp3_without_length_header_is_a_shorter_recording() -> None:
    """Decision: a cut file that does not claim to be longer is a decodable prefix, and is accepted."""
    info = probe(FIXTURES / "fmt_cut_noxing.mp3")
    assert info.container == "mp3"
    assert 1.0 < info.duration_s < TRUTH_S - 0.5


@pytest.mark.parametrize(("fixture", "fragment"), BAD)
def test_bad_fixture_is_refused_with_name_and_reason(fixture: str, fragment: str) -> None:
    with pytest.raises(InputError) as caught:
        probe(FIXTURES / fixture)
    err = caught.value
    assert err.filename == fixture
    assert str(err).startswith(f"{fixture}: ")
    assert fragment in err.reason


@pytest.mark.parametrize(
    ("fixture", "allowed"),
    [("bad_pdf.mp3", "upload MP3, WAV, M4A"), ("bad_aiff.mp3", "upload MP3, WAV, M4A"), ("bad_empty.mp3", "upload")],
)
def test_refusal_says_what_is_allowed(fixture: str, allowed: str) -> None:
    with pytest.raises(InputError, match=allowed):
        probe(FIXTURES / fixture)


@pytest.mark.parametrize("rate", [999, 384_001])
def test_absurd_sample_rate_is_refused(tmp_path: Path, rate: int) -> None:
    path = tmp_path / "odd.wav"
    path.write_bytes(_wav(rate, 0.5))
    with pytest.raises(InputError, match=f"has a sample rate of {rate} Hz"):
        probe(path)


@pytest.mark.parametrize("rate", [1000, 384_000])
def test_extreme_but_allowed_sample_rate_is_accepted(tmp_path: Path, rate: int) -> None:
    path = tmp_path / "odd.wav"
    path.write_bytes(_wav(rate, 0.5))
    assert probe(path).sample_rate == rate


def test_refusal_uses_the_display_name() -> None:
    with pytest.raises(InputError) as caught:
        probe(FIXTURES / "bad_pdf.mp3", display_name="Board meeting.mp3")
    assert str(caught.value).startswith("Board meeting.mp3: looks like a PDF document")


# --- truncation: the end-of-file check on files longer than the first decode window ------------------

_PERIOD = array("h", (int(8000 * math.sin(2 * math.pi * i / 40)) for i in range(40))).tobytes()


def _encode_tone(path: Path, fmt: str, codec: str, seconds: float, rate: int, **options: str) -> None:
    """A mono tone encoded with PyAV, in 1024-sample frames."""
    total = int(seconds * rate)
    block = _PERIOD * (1024 * 2 // len(_PERIOD) + 1)
    with av.open(str(path), "w", format=fmt, options=options) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        for start in range(0, total, 1024):
            frame = av.AudioFrame(format="s16", layout="mono", samples=1024)
            frame.planes[0].update(block[: 1024 * 2])
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _wav(rate: int, seconds: float) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(int(rate * seconds) * 2))
    return buf.getvalue()


# Containers whose header announces the full length: cut in half, they are refused.
ANNOUNCING = [
    ("mp3", "libmp3lame", 16000, {}),  # Xing/Info header with the frame count
    ("ipod", "aac", 16000, {"movflags": "+faststart"}),  # index up front
    ("flac", "flac", 16000, {}),  # STREAMINFO total samples
    ("webm", "libopus", 48000, {}),  # Duration element
    ("wav", "pcm_s16le", 16000, {}),  # data chunk size (FFmpeg trusts the file size; the probe checks both)
]
# Containers where a cut file honestly reports its shorter length: accepted as what is there.
HONEST = [
    ("ogg", "libopus", 48000, {}),  # length comes from the last page
    ("mp3", "libmp3lame", 16000, {"write_xing": "0"}),  # CBR without a length header
    ("adts", "aac", 16000, {}),  # no length anywhere; estimated from the bitrate
]


@pytest.mark.parametrize(("fmt", "codec", "rate", "options"), ANNOUNCING)
def test_cut_file_that_announces_its_length_is_refused(
    tmp_path: Path, fmt: str, codec: str, rate: int, options: dict[str, str]
) -> None:
    full = tmp_path / "full"
    _encode_tone(full, fmt, codec, 20.0, rate, **options)
    assert probe(full).duration_s == pytest.approx(20.0, abs=0.2)
    cut = tmp_path / "cut"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="is truncated or corrupt: it says it lasts 0:20"):
        probe(cut, display_name="talk")


@pytest.mark.parametrize(("fmt", "codec", "rate", "options"), HONEST)
def test_cut_file_without_a_length_claim_is_accepted_as_what_is_there(
    tmp_path: Path, fmt: str, codec: str, rate: int, options: dict[str, str]
) -> None:
    full = tmp_path / "full"
    _encode_tone(full, fmt, codec, 20.0, rate, **options)
    cut = tmp_path / "cut"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert probe(cut).duration_s == pytest.approx(10.0, abs=0.5)


def test_probe_reads_only_a_bounded_part_of_a_long_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read = 0

    class CountingFileIO(io.FileIO):
        def read(self, size: int = -1, /) -> bytes:
            nonlocal read
            data = super().read(size)
            read += len(data or b"")
            return data

    path = tmp_path / "long.wav"
    path.write_bytes(_wav(8000, 300.0))  # 5 minutes, 4.8 MB
    monkeypatch.setattr("core.audio.probe.io.FileIO", CountingFileIO)
    info = probe(path)
    assert info.duration_s == pytest.approx(300.0, abs=0.01)
    assert 0 < read < path.stat().st_size // 10


# --- sniffing ------------------------------------------------------------------------------------------


def _id3(body: bytes) -> bytes:
    size = len(body)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x03\x00\x00" + syncsafe + body


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"", None),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "pdf"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "jpeg"),
        (b"GIF89a\x01\x00\x01\x00", "gif"),
        (b"PK\x03\x04\x14\x00\x00\x00", "zip"),
        (b"\x7fELF\x02\x01\x01" + bytes(57), "elf"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", "exe"),
        (b"MZ is where I was born, a plain note.\n", "text"),
        (b"Meeting notes\n- item one\n", "text"),
        ("Notizen über das Treffen\n".encode(), "text"),
        ("\ufeffNotes, saved by Notepad as UTF-16\r\n".encode("utf-16-le"), "text"),
        (b"ID3 tags are how MP3 files carry titles.\n", "text"),
        ((b"G" + bytes(187)) * 3, "mpegts"),
        (b"  <!DOCTYPE html><html><body></body></html>", "html"),
        (b"<?xml version='1.0'?><a/>", "xml"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", "avi"),
        (_id3(bytes(20)) + b"\xff\xfb\x90\x64", "mp3"),
        (_id3(bytes(20)) + b"fLaC\x00\x00\x00\x22", "flac"),
        (_id3(bytes(20))[:10], "mp3"),  # the tag runs past the head: MP3 is the likely guess
        (b"\xff\xfb\x90\x64\x00\x00", "mp3"),  # MPEG-1 layer III frame
        (b"\xff\xfd\x90\x64\x00\x00", "mpeg"),  # MPEG-1 layer II frame
        (b"\xff\xf1\x50\x80\x02\x1f\xfc", "aac"),  # ADTS
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"OggS\x00\x02" + bytes(22), "ogg"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "webm"),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", "mkv"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "mp4"),
        (b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00", "mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "mov"),
        (b"FORM\x00\x00\x10\x00AIFFCOMM", "aiff"),
        (b"#!AMR\n", "amr"),
        (bytes(range(256)) * 4, None),
    ],
)
def test_sniff_kind(head: bytes, kind: str | None) -> None:
    assert sniff_kind(head) == kind


def test_sniff_matches_every_fixture_by_content() -> None:
    assert sniff_kind((FIXTURES / "fmt_wav_named.mp3").read_bytes()[:64]) == "wav"
    assert sniff_kind((FIXTURES / "fmt_video.mov").read_bytes()[:64]) == "mov"
    assert sniff_kind((FIXTURES / "fmt_speech.aac").read_bytes()[:64]) == "aac"
    assert sniff_kind((FIXTURES / "fmt_speech.mp2").read_bytes()[:64]) == "mpeg"  # MPEG-2 layer II frame


# --- names, hashes, times ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("meeting.mp3", "meeting.mp3"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ann\\Desktop\\memo.m4a", "memo.m4a"),
        ("a/b\\c/../talk.wav", "talk.wav"),
        ("bad\x00name.mp3", "badname.mp3"),
        ("tab\there\nnew line.mp3", "tab here new line.mp3"),
        ("\x1b[31mred\x1b[0m.mp3", "[31mred [0m.mp3"),
        ("invoice\u202egnp.mp3", "invoicegnp.mp3"),  # RIGHT-TO-LEFT OVERRIDE hides the real extension
        ("\u2066a\u2067b\u2068c\u2069\u200e\u200f\u061c\u202a\u202b\u202c\u202d.wav", "abc.wav"),
        ("   lots    of\u3000space   .mp3", "lots of space .mp3"),
        ("", "recording"),
        ("   ", "recording"),
        ("\x00\u202e", "recording"),
        ("..", "recording"),
        ("dir/", "recording"),
        ("caf\u0065\u0301.mp3", "caf\u00e9.mp3"),  # NFC
    ],
)
def test_sanitize_display_name(raw: str, clean: str) -> None:
    assert sanitize_display_name(raw) == clean


def test_sanitize_caps_length_and_keeps_the_extension() -> None:
    name = sanitize_display_name("x" * 1000 + ".mp3")
    assert len(name) == 120
    assert name.endswith("x.mp3")
    assert len(sanitize_display_name("y" * 1000)) == 120


def test_sanitize_drops_lone_surrogates() -> None:
    assert sanitize_display_name("a\udcffb.mp3") == "ab.mp3"


def test_sha256_file_streams_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = struct.pack("<I", 7) * 700_000  # 2.8 MB: more than one read
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_audio_info_is_frozen() -> None:
    info = probe(FIXTURES / "fmt_speech.flac")
    assert isinstance(info, AudioInfo)
    with pytest.raises(AttributeError):
        info.duration_s = 1.0  # type: ignore[misc]
