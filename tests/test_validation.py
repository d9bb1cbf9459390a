"""validate_file's size and duration limits, and store_upload's streaming, hashing and clean-up."""

from __future__ import annotations

import hashlib
import io
import wave
from pathlib import Path

import pytest

from core.audio import store as audio_store
from core.audio.probe import validate_file
from core.audio.store import CHUNK_BYTES, StoredAudio, sha256_file, store_upload
from core.config import Settings, load_settings
from core.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures"
MB = 1024 * 1024


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return load_settings(secrets_file=None, data_dir=tmp_path / "data", **overrides)


def _wav(rate: int, seconds: float) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(int(rate * seconds) * 2))
    return buf.getvalue()


def _leftovers(settings: Settings) -> list[Path]:
    """Everything under the audio and temp folders."""
    return [p for d in (settings.audio_dir, settings.tmp_dir) if d.exists() for p in d.iterdir()]


class Uploaded(io.BytesIO):
    """Shaped like Streamlit's UploadedFile: a BytesIO with name and size."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name = name
        self.size = len(data)


class Endless(io.RawIOBase):
    """A stream of zeros that never ends; counts what was read."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = len(buffer)
        buffer[:n] = bytes(n)
        self.read_bytes += n
        return n


class OneWay(io.RawIOBase):
    """A pipe-like stream: readable, not seekable."""

    def __init__(self, data: bytes) -> None:
        self.source = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        return self.source.readinto(buffer)


class FailsMidway(io.RawIOBase):
    """Yields real audio bytes for two reads, then the connection drops."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        self.reads += 1
        if self.reads > 2:
            raise ConnectionResetError("client went away")
        return self.data[(self.reads - 1) * 4096 : self.reads * 4096]


# --- validate_file -------------------------------------------------------------------------------------


def test_validate_accepts_a_good_file(tmp_path: Path) -> None:
    info = validate_file(FIXTURES / "fmt_speech.mp3", "talk.mp3", _settings(tmp_path))
    assert info.container == "mp3"


def test_validate_refuses_over_the_size_limit_with_both_sizes(tmp_path: Path) -> None:
    path = tmp_path / "big.wav"
    path.write_bytes(_wav(8000, 100.0))  # 1.53 MB of valid audio
    with pytest.raises(InputError) as caught:
        validate_file(path, "big.wav", _settings(tmp_path, max_upload_mb=1))
    assert str(caught.value) == "big.wav: is 1.6 MB; the upload limit is 1 MB."


def test_validate_refuses_over_the_duration_limit_with_both_durations(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        validate_file(FIXTURES / "fmt_speech.wav", "talk.wav", _settings(tmp_path, max_duration_s=1))
    assert caught.value.filename == "talk.wav"
    assert "is 0:03 long; the limit is 0:01" in caught.value.reason


def test_validate_formats_long_durations_as_hours(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    path.write_bytes(_wav(1000, 3725.0))  # 1:02:05 at the lowest accepted rate, 7.5 MB
    with pytest.raises(InputError, match=r"is 1:02:05 long; the limit is 1:00:00"):
        validate_file(path, "long.wav", _settings(tmp_path, max_duration_s=3600))


def test_validate_passes_probe_refusals_through(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="^notes.mp3: looks like a text file"):
        validate_file(FIXTURES / "bad_text.mp3", "notes.mp3", _settings(tmp_path))


# --- store_upload --------------------------------------------------------------------------------------


def test_store_from_path(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    source = FIXTURES / "fmt_speech.m4a"
    stored = store_upload(source, "Interview.m4a", settings)
    digest = sha256_file(source)
    assert stored == StoredAudio(
        sha256=digest,
        path=settings.audio_dir / f"{digest}.m4a",
        bytes=source.stat().st_size,
        display_name="Interview.m4a",
        info=stored.info,
    )
    assert stored.path.read_bytes() == source.read_bytes()
    assert stored.info.container == "mp4"
    assert list(settings.tmp_dir.iterdir()) == []


def test_store_from_file_like_uses_content_extension(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    data = (FIXTURES / "fmt_wav_named.mp3").read_bytes()
    upload = Uploaded(data, "voice.mp3")
    upload.read()  # the page may have read it already; store_upload starts from the beginning
    stored = store_upload(upload, upload.name, settings)
    assert stored.path.name == f"{hashlib.sha256(data).hexdigest()}.wav"
    assert stored.bytes == len(data)
    assert stored.path.read_bytes() == data


def test_store_from_unseekable_stream(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    data = (FIXTURES / "fmt_speech.ogg").read_bytes()
    stream = io.BufferedReader(OneWay(data))
    stored = store_upload(stream, "x.ogg", settings)
    assert stored.path.read_bytes() == data
    assert stored.info.ext == "ogg"


def test_same_content_is_stored_once(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    data = (FIXTURES / "fmt_speech.flac").read_bytes()
    first = store_upload(Uploaded(data, "a.flac"), "a.flac", settings)
    second = store_upload(FIXTURES / "fmt_speech.flac", "b.flac", settings)
    assert first.path == second.path
    assert (first.display_name, second.display_name) == ("a.flac", "b.flac")
    assert [p.name for p in _leftovers(settings)] == [first.path.name]


def test_display_name_is_sanitized(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    stored = store_upload(FIXTURES / "fmt_speech.mp3", "../../x/evil\u202e3pm.mp3", settings)
    assert stored.display_name == "evil3pm.mp3"
    with pytest.raises(InputError) as caught:
        store_upload(FIXTURES / "bad_pdf.mp3", "..\\..\\x\\re\x00port.mp3", settings)
    assert str(caught.value).startswith("report.mp3: looks like a PDF document")


@pytest.mark.parametrize(
    "fixture", ["bad_empty.mp3", "bad_pdf.mp3", "bad_corrupt.wav", "bad_truncated.mp3", "bad_video_no_audio.mp4"]
)
def test_refusal_leaves_nothing_behind(tmp_path: Path, fixture: str) -> None:
    settings = _settings(tmp_path)
    with pytest.raises(InputError, match=f"^{fixture}: "):
        store_upload(FIXTURES / fixture, fixture, settings)
    assert _leftovers(settings) == []


def test_duration_refusal_leaves_nothing_behind(tmp_path: Path) -> None:
    settings = _settings(tmp_path, max_duration_s=1)
    with pytest.raises(InputError, match="the limit is 0:01"):
        store_upload(FIXTURES / "fmt_speech.opus", "talk.opus", settings)
    assert _leftovers(settings) == []


def test_exception_mid_copy_leaves_nothing_behind(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    source = FailsMidway((FIXTURES / "fmt_speech.wav").read_bytes())
    with pytest.raises(ConnectionResetError):
        store_upload(source, "talk.wav", settings)  # type: ignore[arg-type]
    assert source.reads == 3
    assert _leftovers(settings) == []


def test_exception_during_validation_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(tmp_path)

    def boom(*_args: object) -> None:
        raise RuntimeError("probe crashed")

    monkeypatch.setattr(audio_store, "validate_file", boom)
    with pytest.raises(RuntimeError):
        store_upload(FIXTURES / "fmt_speech.wav", "talk.wav", settings)
    assert _leftovers(settings) == []


def test_large_stream_is_refused_after_at_most_limit_plus_one_chunk(tmp_path: Path) -> None:
    settings = _settings(tmp_path, max_upload_mb=1)
    stream = io.BufferedReader(Endless(), buffer_size=64 * 1024)
    with pytest.raises(InputError) as caught:
        store_upload(stream, "huge.wav", settings)
    assert str(caught.value) == "huge.wav: is larger than the 1 MB upload limit; upload a smaller file."
    assert 1 * MB < stream.raw.read_bytes <= 1 * MB + CHUNK_BYTES + 64 * 1024  # type: ignore[attr-defined]
    assert _leftovers(settings) == []


def test_known_size_over_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    settings = _settings(tmp_path, max_upload_mb=1)
    upload = Uploaded(bytes(MB + 1), "big.mp3")
    with pytest.raises(InputError, match=r"^big.mp3: is 1.1 MB; the upload limit is 1 MB.$"):
        store_upload(upload, upload.name, settings)
    assert upload.tell() == 0
    assert _leftovers(settings) == []


def test_path_over_the_limit_is_refused_with_its_size(tmp_path: Path) -> None:
    settings = _settings(tmp_path, max_upload_mb=1)
    path = tmp_path / "big.wav"
    path.write_bytes(_wav(8000, 100.0))
    with pytest.raises(InputError, match=r"is 1.6 MB; the upload limit is 1 MB"):
        store_upload(path, "big.wav", settings)
    assert _leftovers(settings) == []
