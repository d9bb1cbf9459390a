"""Probe and validate uploaded audio by its content (sniffed magic bytes, then a bounded decode), never its name."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.stream
from av.audio.stream import AudioStream

from core.audio.sniff import ACCEPTED_CONTAINERS, NOT_AUDIO, UNSUPPORTED_MEDIA, sniff_kind
from core.config import Settings
from core.errors import InputError
from core.text import format_clock, format_mb

ACCEPTED_FORMATS = "MP3, WAV, M4A, MP4, MOV, AAC, OGG, Opus, WebM, FLAC or MP2"
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 32
HEAD_BYTES = 64 * 1024
PROBE_SECONDS = 3.0  # audio decoded from the start (and near the end) to prove the file is readable
PROBE_MAX_PACKETS = 2_000  # all streams together, so a badly interleaved video cannot make us read it all
END_TOLERANCE_S = 1.0  # how far short of its announced length a file may stop before we call it truncated
# Containers whose seek uses an index, a length header or a bisection: the end-of-file check is cheap.
# (ADTS AAC has none, and its length is only estimated from the bitrate, so there is nothing to check.)
CHEAP_SEEK = frozenset({"wav", "mp3", "mpeg", "mp4", "mov", "flac", "ogg", "webm"})
EXACT_LENGTH = frozenset({"wav", "mp4", "mov"})  # containers whose announced length is a count, not an estimate
_DEMUXER_NAME = "upload"  # PyAV hands the name to FFmpeg's prober; one without an extension adds no bias


@dataclass(frozen=True)
class AudioInfo:
    container: str  # canonical short name: "mp3", "wav", "mp4", "ogg", "webm", "flac", "aac", "mpeg", "mov"
    codec: str  # "mp3", "pcm_s16le", "aac", "opus", "vorbis", "flac", ...
    duration_s: float
    sample_rate: int
    channels: int
    has_video: bool
    ext: str  # canonical storage extension


def _refuse(reason: str, name: str) -> InputError:
    return InputError(reason, filename=name)


def _not_accepted(what: str, name: str) -> InputError:
    return _refuse(f"looks like {what}, not audio we accept; upload {ACCEPTED_FORMATS}.", name)


def _unreadable(name: str, kind: str | None) -> InputError:
    if kind in ACCEPTED_CONTAINERS:
        return _refuse(
            f"looks like {kind.upper()} audio but could not be read: the file is truncated or corrupt.", name
        )
    return _refuse(f"is not an audio file we can read; upload {ACCEPTED_FORMATS}.", name)


def _container_name(fmt: str, codec: str, kind: str | None) -> str | None:
    """Our canonical container for FFmpeg's demuxer name, refined by the sniffed kind; None if not accepted."""
    if fmt == "mp3":
        return "mp3" if codec == "mp3" else "mpeg" if codec in ("mp1", "mp2") else None
    if fmt.startswith("mov,mp4"):
        return "mov" if kind == "mov" else "mp4"
    if fmt == "matroska,webm":
        return None if kind == "mkv" else "webm"
    return fmt if fmt in ("wav", "aac", "ogg", "flac") else None


def _extension(container: str, codec: str, has_video: bool) -> str:
    if container == "mpeg":
        return "mp1" if codec == "mp1" else "mp2"
    if container == "ogg" and codec == "opus":
        return "opus"
    if container == "mp4":
        return "mp4" if has_video else "m4a"
    return container


@dataclass
class _Window:
    frames: int = 0
    errors: int = 0
    packets: int = 0
    eof: bool = False
    end_s: float | None = None  # latest decoded end time, in seconds on the stream's clock
    sample_rate: int = 0
    channels: int = 0


def _decode_window(container: av.container.InputContainer, stream: AudioStream, seconds: float) -> _Window:
    """Decode about `seconds` of the stream from the current position; never the whole file."""
    win = _Window()
    decoded_s = 0.0
    demux = container.demux()
    while True:
        try:
            packet = next(demux)
        except StopIteration:
            win.eof = True
            break
        except av.FFmpegError:
            win.errors += 1
            break
        win.packets += 1
        if win.packets > PROBE_MAX_PACKETS:
            break
        if packet.stream.index != stream.index:
            continue
        flush = packet.size == 0  # PyAV's empty packet at the end of the stream drains the decoder
        try:
            frames = stream.decode(packet)
        except av.FFmpegError:
            win.errors += 1
            if flush or (win.errors > 20 and not win.frames):
                win.eof = flush
                break
            continue
        for frame in frames:
            win.frames += 1
            win.sample_rate = frame.sample_rate or win.sample_rate
            win.channels = frame.layout.nb_channels or win.channels
            if frame.sample_rate:
                decoded_s += frame.samples / frame.sample_rate
                if frame.time is not None:
                    end = frame.time + frame.samples / frame.sample_rate
                    win.end_s = end if win.end_s is None else max(win.end_s, end)
        if flush:
            win.eof = True
            break
        if decoded_s >= seconds:
            break
    return win


def _seconds(value: int | None, base: Fraction | None) -> float | None:
    return float(value * base) if value is not None and base is not None else None


def declared_duration(container: av.container.InputContainer, stream: AudioStream | None) -> float | None:
    """The length the audio stream (else the container) announces, in seconds; None when neither does."""
    # The stream first: a screen recording's container lasts as long as its picture, not its sound.
    seconds = _seconds(stream.duration, stream.time_base) if stream is not None else None
    if seconds is not None and seconds > 0:
        return seconds
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def demuxed_duration(path: Path, demuxer: str, stream_index: int) -> float:
    """Length from packet timestamps alone (no decoding): what the file holds, whatever its header says."""
    first: float | None = None
    last = 0.0
    # The demuxer is known by now, so open by path (twice as fast as Python file I/O) and force it.
    with av.open(str(path), "r", format=demuxer.split(",")[0], metadata_errors="replace") as container:
        stream = container.streams[stream_index]
        base = stream.time_base
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError:
                break  # damage at the end: the length is what came before it, as a decoder would find
            if packet.pts is None or base is None:
                continue
            start = float(packet.pts * base)
            first = start if first is None else min(first, start)
            last = max(last, float((packet.pts + (packet.duration or 0)) * base))
    return max(0.0, last - (first or 0.0))


def _check_params(sample_rate: int, channels: int, name: str) -> None:
    if sample_rate and not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise _refuse(
            f"has a sample rate of {sample_rate} Hz; audio must be between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} Hz.",
            name,
        )
    if channels > MAX_CHANNELS:
        raise _refuse(f"has {channels} audio channels; at most {MAX_CHANNELS} are supported.", name)


def _truncated(declared: float, name: str) -> InputError:
    return _refuse(
        f"is truncated or corrupt: it says it lasts {format_clock(declared)} but the audio stops early. "
        "Upload the complete file again.",
        name,
    )


def _check_wav_data(path: Path, name: str) -> None:
    """Refuse a WAV whose data chunk announces more audio than the file holds (FFmpeg quietly clamps it)."""
    with path.open("rb") as src:
        head = src.read(HEAD_BYTES)
    if head[:4] != b"RIFF":
        return  # RF64/BW64 keep the real size in a ds64 chunk; FFmpeg reads that one itself
    size = path.stat().st_size
    pos, byte_rate = 12, 0
    while pos + 8 <= len(head):
        chunk_id, length = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if chunk_id == b"fmt " and pos + 16 <= len(head):
            byte_rate = int.from_bytes(head[pos + 16 : pos + 20], "little")
        if chunk_id == b"data":
            # 0 and 0xFFFFFFFF mean "unknown, until the end" (a recorder that streamed and never came back).
            if byte_rate <= 0 or length in (0, 0xFFFFFFFF):
                return
            missing = length - (size - pos - 8)
            if missing / byte_rate > END_TOLERANCE_S:
                raise _truncated(length / byte_rate, name)
            return
        pos += 8 + length + (length & 1)


def _check_end(
    container: av.container.InputContainer, stream: AudioStream, declared: float, start: float
) -> _Window | None:
    """Decode a little just before the announced end; None where seeking is not possible."""
    base = stream.time_base
    if base is None:
        return None
    target = start + max(0.0, declared - 2.0)
    try:
        container.seek(int(target / base), stream=stream, backward=True)
    except av.FFmpegError:
        return None
    stream.codec_context.flush_buffers()
    return _decode_window(container, stream, 1.0)


def probe(path: Path, display_name: str | None = None) -> AudioInfo:
    """Identify and sanity-check an audio (or video-with-audio) file by content; raises InputError."""
    name = display_name or path.name
    with path.open("rb") as src:
        head = src.read(HEAD_BYTES)
    if not head:
        raise _refuse("is empty (0 bytes); upload a recording.", name)
    kind = sniff_kind(head)
    if kind in NOT_AUDIO:
        raise _refuse(f"looks like {NOT_AUDIO[kind]}, not audio; upload {ACCEPTED_FORMATS}.", name)
    if kind in UNSUPPORTED_MEDIA:
        raise _not_accepted(UNSUPPORTED_MEDIA[kind], name)
    with io.FileIO(path, "rb") as raw:
        raw.name = _DEMUXER_NAME  # FileIO.name is writable; FFmpeg must judge by content, not ".mp3"
        try:
            container = av.open(raw, "r", metadata_errors="replace")
        except (av.FFmpegError, OSError, EOFError):
            raise _unreadable(name, kind) from None
        with container:
            try:
                return _probe_open(container, path, name, kind)
            except (av.FFmpegError, EOFError):
                raise _refuse("could not be decoded: the audio is truncated or corrupt.", name) from None


def _probe_open(container: av.container.InputContainer, path: Path, name: str, kind: str | None) -> AudioInfo:
    fmt = container.format.name
    audio = [s for s in container.streams if isinstance(s, AudioStream)]
    has_video = any(
        s.type == "video" and not s.disposition & av.stream.Disposition.attached_pic for s in container.streams
    )
    if not audio:
        if has_video:
            raise _refuse("is a video without a sound track; there is no audio to transcribe.", name)
        if kind is None and fmt not in ("wav", "mp3", "aac", "ogg", "flac", "matroska,webm"):
            raise _refuse(f"is not an audio file we can read; upload {ACCEPTED_FORMATS}.", name)
        raise _refuse("contains no audio stream.", name)
    stream = audio[0]
    if stream.codec_context is None or stream.codec_context.codec is None:
        raise _unreadable(name, kind)  # a stream FFmpeg has no decoder for (e.g. 0 bits per sample)
    codec = stream.codec_context.codec.canonical_name
    container_name = _container_name(fmt, codec, kind)
    if container_name is None:
        what = UNSUPPORTED_MEDIA.get(kind or "") or f"{container.format.long_name} media"
        raise _not_accepted(what, name)
    _check_params(stream.codec_context.sample_rate, stream.codec_context.channels, name)

    declared = declared_duration(container, stream)
    start = _seconds(stream.start_time, stream.time_base) or 0.0
    head = _decode_window(container, stream, PROBE_SECONDS)
    if not head.frames:
        if head.eof and not head.errors:
            raise _refuse("has no audio data in it (0 seconds); it may be truncated.", name)
        raise _refuse("could not be decoded: the audio is truncated or corrupt.", name)
    _check_params(head.sample_rate, head.channels, name)
    if container_name == "wav":
        _check_wav_data(path, name)
    if declared is not None:
        reached = head.end_s if head.eof else None
        if not head.eof and container_name in CHEAP_SEEK:
            tail = _check_end(container, stream, declared, start)
            if tail is not None and not tail.frames:
                raise _truncated(declared, name)  # nothing decodes where the file says its last seconds are
            if tail is not None and tail.eof:
                reached = tail.end_s
        if reached is not None and reached - start < declared - max(END_TOLERANCE_S, 0.05 * declared):
            raise _truncated(declared, name)
    # Headers can lie (an MP3 without a Xing header is timed by its first frame's bitrate), so limits,
    # estimates and holds use the length the packets measure. PCM WAV is exact from its (checked) data
    # size and an MP4's length is its sample index, so those skip the pass (~0.8 s per 100k packets).
    if declared is not None and container_name in EXACT_LENGTH:
        duration = declared
    else:
        duration = demuxed_duration(path, fmt, stream.index) or declared or 0.0
    if duration <= 0:
        raise _refuse("has no audio data in it (0 seconds); it may be truncated.", name)
    return AudioInfo(
        container=container_name,
        codec=codec,
        duration_s=duration,
        sample_rate=head.sample_rate or stream.codec_context.sample_rate,
        channels=head.channels or stream.codec_context.channels,
        has_video=has_video,
        ext=_extension(container_name, codec, has_video),
    )


def upload_too_large(size: int | None, limit: int, name: str) -> InputError:
    """The refusal for an upload over the size limit (`size` None when only known to be over)."""
    limit_text = format_mb(limit).replace(".0 MB", " MB")
    if size is None:
        return _refuse(f"is larger than the {limit_text} upload limit; upload a smaller file.", name)
    return _refuse(f"is {format_mb(size)}; the upload limit is {limit_text}.", name)


def validate_file(path: Path, display_name: str, settings: Settings) -> AudioInfo:
    """Refuse a file that is too big, not accepted audio, broken, or too long; else describe it."""
    size = path.stat().st_size
    if size > settings.max_upload_bytes:
        raise upload_too_large(size, settings.max_upload_bytes, display_name)
    info = probe(path, display_name)
    if info.duration_s > settings.max_duration_s:
        raise _refuse(
            f"is {format_clock(math.ceil(info.duration_s))} long; the limit is "
            f"{format_clock(settings.max_duration_s)}. Split it or trim it first.",
            display_name,
        )
    return info
