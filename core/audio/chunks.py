"""Long audio: transcode to compact speech, find silences, split with overlap, merge chunk transcripts."""

from __future__ import annotations

import math
import re
import subprocess
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from core.errors import InputError, StorageError
from core.transcripts.types import Segment

SPEECH_RATE = 16_000
SPEECH_BITRATE = "24k"  # Opus at 24 kbit/s mono: about 3 KB a second, plenty for speech
WORST_BYTES_PER_S = 4_000  # Opus VBR stays under 32 kbit/s at this setting: bounds a chunk's upload size
UPLOAD_LIMIT_BYTES = 24 * 1024 * 1024  # the API takes 25 MB; keep room for the multipart envelope
_SILENCE = re.compile(r"silence_(start|end): (-?[\d.]+)")


@dataclass(frozen=True)
class PreparedAudio:
    """A seekable 16 kHz mono PCM copy of the file, with its duration and the silences found making it."""

    path: Path
    duration_s: float
    silences: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Chunk:
    index: int
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class ChunkTranscript:
    """One chunk's result with times already shifted to the whole file."""

    chunk: Chunk
    text: str
    segments: tuple[Segment, ...]
    timed: bool  # segments carry real timestamps (else one segment spans the chunk)
    language: str | None = None


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def probe_duration(path: Path) -> float:
    """Duration in seconds without decoding: the header's where it is exact, else measured from the packets."""
    import av

    from core.audio.probe import declared_duration, demuxed_duration  # lazy: importing chunks must not load PyAV

    try:
        with av.open(str(path)) as container:
            audio = container.streams.audio
            seconds = declared_duration(container, audio[0] if audio else None)
            fmt = container.format.name
            if audio and (seconds is None or not (fmt == "wav" or fmt.startswith("mov,mp4"))):
                # An MP3 without a Xing header is timed by its first frame's bitrate: estimates must not trust it.
                seconds = demuxed_duration(path, fmt, audio[0].index) or seconds
            if seconds is not None:
                return seconds
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(f"this file could not be read as audio ({type(exc).__name__})", filename=path.name) from None
    raise InputError("the length of this audio could not be determined", filename=path.name)


def decode_limit(duration_s: float) -> float | None:
    """How far to decode a file whose validated (measured) length is `duration_s`; None when it is unknown (0)."""
    # The service always passes the probe's measured length (never 0); the slack covers decoder rounding.
    return duration_s * 1.01 + 2.0 if duration_s > 0 else None


def _disk_full(lines: Sequence[str]) -> bool:
    return any("No space left on device" in line for line in lines)


def _disk_full_error() -> StorageError:
    return StorageError("The server's disk is full, so the audio could not be converted; try again later.")


def prepare(
    src: Path, dst: Path, *, noise_db: float = -35.0, min_silence_s: float = 0.3, max_s: float | None = None
) -> PreparedAudio:
    """One streaming ffmpeg pass: decode to 16 kHz mono PCM at `dst` (exact seeks) and find silences.

    `max_s` stops the decode there, whatever length the file's header claimed.
    """
    limit = ["-t", f"{max_s:.3f}"] if max_s is not None else []
    detect = f"asetpts=PTS-STARTPTS,silencedetect=noise={noise_db}dB:d={min_silence_s}"
    cmd = [
        ffmpeg_exe(),
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-y",
        "-i",
        str(src),
        "-vn",
        "-af",
        detect,
        "-ac",
        "1",
        "-ar",
        str(SPEECH_RATE),
        "-c:a",
        "pcm_s16le",
        *limit,
        "-f",
        "wav",
        str(dst),
    ]
    silences: list[tuple[float, float]] = []
    opened: float | None = None
    tail: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace") as proc:
        assert proc.stderr is not None
        for line in proc.stderr:  # read as it comes: the log of a long file never sits in memory
            for kind, value in _SILENCE.findall(line):
                if kind == "start":
                    opened = max(0.0, float(value))
                elif opened is not None:
                    silences.append((opened, float(value)))
                    opened = None
            tail = [*tail[-4:], line.strip()]
    if proc.returncode != 0 and _disk_full(tail):
        dst.unlink(missing_ok=True)  # a half-written copy must not be read as the whole recording
        raise _disk_full_error()
    if proc.returncode != 0 or not dst.is_file():
        reason = next((t for t in reversed(tail) if t), "no audio found")
        raise InputError(f"this file could not be read as audio ({reason[:200]})", filename=src.name)
    duration = probe_duration(dst)
    if duration <= 0:
        raise InputError("this file has no audio in it", filename=src.name)
    if opened is not None and opened < duration:
        silences.append((opened, duration))
    return PreparedAudio(dst, duration, tuple(silences))


def encode(src: Path, chunk: Chunk, dst: Path) -> Path:
    """Write `chunk` of the prepared PCM as 16 kHz mono Opus in Ogg: the compact upload."""
    cmd = [
        ffmpeg_exe(),
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-threads",
        "1",
        "-ss",
        f"{chunk.start:.3f}",
        "-i",
        str(src),
        "-t",
        f"{chunk.duration:.3f}",
        "-c:a",
        "libopus",
        "-b:a",
        SPEECH_BITRATE,
        "-application",
        "voip",
        "-compression_level",
        "3",
        "-map_metadata",
        "-1",
        "-f",
        "ogg",
        str(dst),
    ]
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0 and _disk_full(done.stderr.splitlines()):
        dst.unlink(missing_ok=True)
        raise _disk_full_error()
    if done.returncode != 0:
        raise InputError(f"could not encode part {chunk.index} ({done.stderr.strip()[:200]})", filename=src.name)
    return dst


def max_chunk_seconds(*, model_limit_s: float | None, target_s: float | None) -> float:
    """The longest chunk allowed by the upload limit, the model's duration limit and the target length."""
    limits = [0.95 * UPLOAD_LIMIT_BYTES / WORST_BYTES_PER_S]
    if model_limit_s:
        limits.append(model_limit_s * 0.97)  # headroom: the server measures duration its own way
    if target_s:
        limits.append(target_s)
    return max(min(limits), 10.0)


def balanced_chunk_seconds(duration_s: float, max_chunk_s: float, lanes: int) -> float:
    """A chunk length that splits the file into a multiple of `lanes` chunks (no lane idles at the end)."""
    if duration_s <= max_chunk_s or lanes <= 1:
        return max_chunk_s
    count = math.ceil(math.ceil(duration_s / (0.9 * max_chunk_s)) / lanes) * lanes  # cuts land early, at pauses
    return min(max_chunk_s, duration_s / count * 1.15 + 1.0)


def plan_chunks(
    duration_s: float, silences: Sequence[tuple[float, float]], max_chunk_s: float, overlap_s: float = 1.0
) -> list[Chunk]:
    """Cut points at silences; each chunk after the first starts `overlap_s` early (snapped to a silence)."""
    if duration_s <= max_chunk_s:
        return [Chunk(0, 0.0, duration_s)]
    chunks: list[Chunk] = []
    start = 0.0
    while duration_s - start > max_chunk_s:
        hi = start + max_chunk_s
        # The longest pause near the end of the allowed span (full chunks); look further back only if none.
        best = None
        for lo in (start + 0.85 * max_chunk_s, start + 0.6 * max_chunk_s):
            inside = [(a, b) for a, b in silences if lo <= (a + b) / 2 <= hi]
            best = max(inside, key=lambda s: (s[1] - s[0], s[0]), default=None)
            if best:
                break
        end = (best[0] + best[1]) / 2 if best else hi
        chunks.append(Chunk(len(chunks), start, end))
        start = max(_overlap_start(end, silences, overlap_s), start + 1.0)
    chunks.append(Chunk(len(chunks), start, duration_s))
    return chunks


def _overlap_start(cut_at: float, silences: Sequence[tuple[float, float]], overlap_s: float) -> float:
    wanted = cut_at - overlap_s
    if any(a <= wanted <= b for a, b in silences):
        return wanted
    near = [(a + b) / 2 for a, b in silences if cut_at - 3 * overlap_s <= (a + b) / 2 <= cut_at - overlap_s / 4]
    return min(near, key=lambda m: abs(m - wanted)) if near else wanted


def shift_segments(segments: Sequence[Segment], offset: float) -> list[Segment]:
    """Move chunk-relative times to the whole file."""
    return [
        replace(
            s,
            start=s.start + offset,
            end=s.end + offset,
            words=tuple(replace(w, start=w.start + offset, end=w.end + offset) for w in s.words),
        )
        for s in segments
    ]


def _norm(token: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", token).casefold() if c.isalnum())


def seam_overlap(before: Sequence[str], after: Sequence[str], max_words: int) -> int:
    """How many leading words of `after` repeat the trailing words of `before` (longest match wins)."""
    for k in range(min(max_words, len(before), len(after)), 0, -1):
        if [_norm(t) for t in before[-k:]] == [_norm(t) for t in after[:k]]:
            return k
    return 0


def _keep_words(seg: Segment, keep: bool, m: float) -> Segment | None:
    """Keep the side of `m` a segment belongs to; a segment straddling the seam is trimmed to its words."""
    if not seg.words:
        mid = (seg.start + seg.end) / 2
        return seg if (mid < m) == keep else None
    words = tuple(w for w in seg.words if ((w.start + w.end) / 2 < m) == keep)
    if len(words) == len(seg.words):
        return seg
    if not words:
        return None
    return replace(seg, start=words[0].start, end=words[-1].end, words=words, text=" ".join(w.text for w in words))


def _drop_leading(seg: Segment, count: int) -> Segment | None:
    tokens = seg.text.split()[count:]
    return replace(seg, text=" ".join(tokens)) if tokens else None


def merge_transcripts(parts: Sequence[ChunkTranscript], overlap_s: float = 1.0) -> tuple[str, list[Segment]]:
    """Join chunk transcripts in order, dropping what the overlaps repeat at each seam."""
    max_words = int(overlap_s * 5) + 3
    merged: list[Segment] = []
    previous: ChunkTranscript | None = None
    for part in sorted(parts, key=lambda p: p.chunk.index):
        segments = list(part.segments)
        if previous is not None:
            m = (part.chunk.start + previous.chunk.end) / 2
            if part.timed and previous.timed:
                merged = [s for s in (_keep_words(s, True, m) for s in merged) if s]
                segments = [s for s in (_keep_words(s, False, m) for s in segments) if s]
            words_known = any(s.words for s in segments) and any(s.words for s in merged)
            if segments and merged and not words_known:
                tail = " ".join(s.text for s in merged[-3:]).split()
                repeated = seam_overlap(tail, segments[0].text.split(), max_words)
                first = _drop_leading(segments[0], repeated)
                segments = ([first] if first else []) + segments[1:]
            if not part.timed and segments:
                segments[0] = replace(segments[0], start=max(segments[0].start, m))
                if merged:
                    merged[-1] = replace(merged[-1], end=min(merged[-1].end, m))
        merged.extend(s for s in segments if s.text.strip())
        previous = part
    return " ".join(s.text.strip() for s in merged), merged
