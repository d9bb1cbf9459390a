"""Streaming PCM decode: any audio file becomes mono float32 windows cut at quiet points.

faster-whisper's own `decode_audio` holds the whole file as one array (a 4-hour file is ~1 GB of
float32); here at most one window (plus a few seconds of carry) is alive at a time.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from pathlib import Path

import av
import av.audio.fifo
import numpy as np
import numpy.typing as npt

from core.errors import InputError

SAMPLE_RATE = 16_000
QUIET_S = 0.1  # length of the quiet stretch a window is cut in
SEARCH_S = 5.0  # how far back from a window's end to look for that stretch
_GROUP_S = 5.0  # decoded audio handed to the resampler per call (fewer, larger calls are faster)

Pcm = npt.NDArray[np.float32]


def iter_pcm_chunks(path: Path, sample_rate: int = SAMPLE_RATE, max_s: float | None = None) -> Iterator[Pcm]:
    """Decode `path` piece by piece into mono float32 chunks at `sample_rate`, stopping after `max_s` seconds."""
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError) as exc:
        raise InputError(f"this file could not be opened as audio ({exc}).", filename=path.name) from None
    with container:
        if not container.streams.audio:
            raise InputError("this file has no audio track.", filename=path.name)
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        fifo = av.audio.fifo.AudioFifo()
        group = int(_GROUP_S * (stream.rate or sample_rate))
        decoded_s = 0.0
        try:
            for frame in _decodable_frames(container, stream):
                if max_s is not None and decoded_s >= max_s:
                    break  # a header that lied about the length cannot make us decode hours more
                decoded_s += frame.samples / (frame.sample_rate or sample_rate)
                frame.pts = None  # decoders disagree on timestamps; the sample count is what matters
                fifo.write(frame)
                if fifo.samples >= group:
                    yield from _resample(resampler, fifo.read())
            if fifo.samples:
                yield from _resample(resampler, fifo.read())
            yield from _resample(resampler, None)  # flush
        except av.FFmpegError as exc:
            raise InputError(f"the audio could not be decoded ({exc}).", filename=path.name) from None
        finally:
            # PyAV's resampler keeps native buffers alive until collected (faster-whisper issue #390).
            del resampler, fifo
            gc.collect()


def _decodable_frames(container: av.container.InputContainer, stream: av.AudioStream) -> Iterator[av.AudioFrame]:
    """Decoded frames, skipping damaged packets as ffmpeg itself does."""
    frames = container.decode(stream)
    while True:
        try:
            yield next(frames)
        except StopIteration:
            return
        except av.InvalidDataError:
            continue


def _resample(resampler: av.AudioResampler, frame: av.AudioFrame | None) -> Iterator[Pcm]:
    for out in resampler.resample(frame):
        pcm = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
        if pcm.size:
            yield pcm


def quiet_cut(pcm: Pcm, search: int, quiet: int) -> int:
    """Index to cut `pcm` at: the centre of its quietest `quiet` samples within the last `search`."""
    search = min(search, pcm.size)
    if quiet <= 0 or search < quiet:
        return int(pcm.size)
    tail = pcm[pcm.size - search :].astype(np.float64)
    sums = np.concatenate(([0.0], np.cumsum(tail * tail)))
    energy = sums[quiet:] - sums[:-quiet]
    # The latest minimum, so that digital silence keeps windows as long as possible.
    latest = energy.size - 1 - int(np.argmin(energy[::-1]))
    return int(pcm.size - search + latest + quiet // 2)


def split_windows(chunks: Iterable[Pcm], window: int, search: int, quiet: int) -> Iterator[tuple[int, Pcm]]:
    """Regroup PCM chunks into (first sample, window) pairs of at most `window` samples, cut quietly."""
    if window <= 0:
        raise ValueError("window must be positive")
    search = min(search, window // 2)  # every cut advances by at least half a window
    start = 0
    buf: Pcm = np.empty(window, dtype=np.float32)
    fill = 0
    for chunk in chunks:
        pos = 0
        while pos < chunk.size:
            take = min(window - fill, chunk.size - pos)
            buf[fill : fill + take] = chunk[pos : pos + take]
            fill += take
            pos += take
            if fill < window:
                continue
            cut = quiet_cut(buf, search, quiet)
            carry = buf[cut:].copy()
            yield start, buf[:cut]
            del buf  # freed here if the consumer let go of its window: one window alive, not two
            start += cut
            buf = np.empty(window, dtype=np.float32)
            buf[: carry.size] = carry
            fill = carry.size
    if fill:
        yield start, buf[:fill]


def iter_pcm_windows(
    path: Path, window_s: float = 600.0, sample_rate: int = SAMPLE_RATE, max_s: float | None = None
) -> Iterator[tuple[float, Pcm]]:
    """Yield (offset seconds, mono float32 PCM) windows of at most `window_s`, cut at quiet points, up to `max_s`."""
    if window_s <= QUIET_S * 2:
        raise ValueError(f"window_s must be more than {QUIET_S * 2} seconds")
    window = int(window_s * sample_rate)
    search = int(SEARCH_S * sample_rate)
    quiet = int(QUIET_S * sample_rate)
    for first, pcm in split_windows(iter_pcm_chunks(path, sample_rate, max_s), window, search, quiet):
        yield first / sample_rate, pcm
        del pcm  # hold no reference while the next window fills


def decode_pcm(path: Path, sample_rate: int = SAMPLE_RATE) -> Pcm:
    """The whole file as one mono float32 array; for short files only."""
    chunks = list(iter_pcm_chunks(path, sample_rate))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
