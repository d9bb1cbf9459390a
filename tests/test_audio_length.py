"""The length an upload is held to is the one its audio measures, not the one its header claims."""

from __future__ import annotations

import io
import struct
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from core.audio.chunks import decode_limit, prepare, probe_duration
from core.audio.pcm import SAMPLE_RATE, iter_pcm_chunks
from core.audio.probe import probe, validate_file
from core.config import Settings
from core.errors import InputError


def _tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)


def _mp3_part(seconds: float, bit_rate: int) -> bytes:
    """A CBR MP3 without a Xing header, so its length is estimated from the first frame's bitrate."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3", options={"write_xing": "0", "id3v2_version": "0"}) as out:
        stream = out.add_stream("libmp3lame", rate=16000, layout="mono")
        stream.bit_rate = bit_rate
        pcm = _tone(seconds, 16000)
        for start in range(0, pcm.size, 1152):
            frame = av.AudioFrame.from_ndarray(pcm[None, start : start + 1152], format="s16", layout="mono")
            frame.sample_rate, frame.pts = 16000, start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


@pytest.fixture(scope="module")
def lying_mp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 s at 160 kbit/s, then 20 s at 8 kbit/s: the header says about 2 s, the file holds 21 s."""
    path = tmp_path_factory.mktemp("lie") / "lie.mp3"
    path.write_bytes(_mp3_part(1.0, 160_000) + _mp3_part(20.0, 8_000))
    return path


def test_mp3_that_lies_about_its_bitrate_is_measured(lying_mp3: Path) -> None:
    with av.open(str(lying_mp3)) as container:
        assert container.duration is not None and container.duration / av.time_base < 5.0  # the lie
    assert probe(lying_mp3).duration_s == pytest.approx(21.0, abs=0.3)


def test_duration_limit_holds_against_the_measured_length(lying_mp3: Path, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, max_duration_s=10)
    with pytest.raises(InputError, match=r"is 0:2\d long; the limit is 0:10"):
        validate_file(lying_mp3, "lie.mp3", settings)


def test_mp4_whose_sound_stops_before_its_picture_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "screen.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("mpeg4", rate=10)
        video.width = video.height = 16
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=16000, layout="mono")
        pcm = _tone(3.0, 16000)
        for start in range(0, pcm.size, 1024):
            frame = av.AudioFrame.from_ndarray(pcm[None, start : start + 1024], format="s16", layout="mono")
            frame.sample_rate, frame.pts = 16000, start
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
        for i in range(200):  # 20 s of picture
            picture = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), dtype=np.uint8), format="rgb24")
            picture.pts, picture.time_base = i, Fraction(1, 10)
            for packet in video.encode(picture):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    assert path.stat().st_size < 100_000
    with av.open(str(path)) as container:
        assert container.duration is not None and container.duration / av.time_base > 15.0
    info = probe(path)
    assert info.has_video and info.duration_s == pytest.approx(3.0, abs=0.2)


def _wav(seconds: float, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(_tone(seconds, rate).tobytes())
    return buf.getvalue()


def test_wav_cut_short_is_refused_as_truncated(tmp_path: Path) -> None:
    data = _wav(10.0)
    path = tmp_path / "cut.wav"
    path.write_bytes(data[: len(data) * 4 // 10])  # the first 40 %
    with pytest.raises(InputError, match=r"cut\.wav.*is truncated or corrupt: it says it lasts 0:10"):
        probe(path)


def test_wav_whose_header_claims_hours_is_refused(tmp_path: Path) -> None:
    data = bytearray(_wav(1.0))
    data[40:44] = struct.pack("<I", 3 * 3600 * 8000 * 2)  # the data chunk claims 3 hours
    path = tmp_path / "claims.wav"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="it says it lasts 3:00:00"):
        probe(path)


def test_wav_with_unknown_data_size_is_accepted(tmp_path: Path) -> None:
    data = bytearray(_wav(2.0))
    data[40:44] = b"\xff\xff\xff\xff"  # a recorder that streamed and never came back to fill it in
    path = tmp_path / "stream.wav"
    path.write_bytes(bytes(data))
    assert probe(path).duration_s == pytest.approx(2.0, abs=0.05)


def test_pcm_decode_stops_at_the_limit_whatever_the_header_said(lying_mp3: Path) -> None:
    decoded = sum(chunk.size for chunk in iter_pcm_chunks(lying_mp3, max_s=5.0)) / SAMPLE_RATE
    assert decoded == pytest.approx(5.0, abs=0.5)  # not the 21 s the file holds


def test_transcode_stops_at_the_limit_whatever_the_header_said(lying_mp3: Path, tmp_path: Path) -> None:
    prepared = prepare(lying_mp3, tmp_path / "speech.wav", max_s=5.0)
    assert prepared.duration_s == pytest.approx(5.0, abs=0.1)


def test_decode_limit_follows_the_measured_length() -> None:
    assert decode_limit(600.0) == pytest.approx(608.0)
    assert decode_limit(0.0) is None  # unknown: callers without a probe (tests, benches) are not cut


def test_cost_estimate_length_is_measured_too(lying_mp3: Path) -> None:
    assert probe_duration(lying_mp3) == pytest.approx(21.0, abs=0.3)  # what estimate_file_cost prices
