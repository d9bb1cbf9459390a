"""Local provider benchmark: real-time factor of tiny.en on the spoken fixtures, and decode memory.

    python -m bench.local                      # speed on the fixtures + memory on 30 and 60 min files
    python -m bench.local --beam 1 --no-memory # compare decoding options

Memory is measured in child processes, so that each peak RSS belongs to one run only: streaming
`iter_pcm_windows` and the whole local provider over generated long MP3s, against faster-whisper's
whole-file `decode_audio`. Flat peaks across lengths mean memory does not grow with the file.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
SPOKEN = sorted(p for p in FIXTURES.glob("speech_*") if p.suffix in {".wav", ".mp3", ".ogg", ".flac"})


def peak_rss_mb() -> float:
    """This process's peak resident set size, from getrusage (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _proc_status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def current_rss_mb() -> float:
    return _proc_status_mb("VmRSS")


def own_peak_rss_mb() -> float:
    """Peak RSS of this program image only: unlike ru_maxrss, VmHWM is not inherited across fork+exec."""
    return _proc_status_mb("VmHWM")


def write_wav(path: Path, pcm: np.ndarray, rate: int = 16_000) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())


def bench_transcription(beam_size: int | None, window_s: float | None) -> None:
    from core.audio.pcm import SAMPLE_RATE, decode_pcm
    from core.config import Settings
    from core.providers.base import TranscriptionRequest
    from core.providers.local import LocalProvider

    started = time.perf_counter()
    provider = LocalProvider.shared(Settings(local_model=None)).with_options(beam_size=beam_size, window_s=window_s)
    provider.load()
    print(f"model {provider.default_model()} loaded in {time.perf_counter() - started:.2f} s")
    print(f"beam_size={provider.beam_size} window_s={provider.window_s:g}\n")

    with tempfile.TemporaryDirectory() as tmp:
        gap = np.zeros(SAMPLE_RATE // 2, np.float32)
        joined = Path(tmp) / "speech_all.wav"
        write_wav(joined, np.concatenate([x for p in SPOKEN for x in (decode_pcm(p), gap)]))

        print(f"{'file':<16}{'audio s':>9}{'wall s':>9}{'RTF':>8}")
        total_audio = total_wall = 0.0
        for path in [*SPOKEN, joined]:
            duration = decode_pcm(path).size / SAMPLE_RATE
            request = TranscriptionRequest(audio_path=path, sha256="bench", duration_s=duration)
            t0 = time.perf_counter()
            result = provider.transcribe(request)
            wall = time.perf_counter() - t0
            total_audio += result.duration_s
            total_wall += wall
            print(f"{path.name:<16}{result.duration_s:>9.1f}{wall:>9.2f}{wall / result.duration_s:>8.3f}")
        print(f"{'overall':<16}{total_audio:>9.1f}{total_wall:>9.2f}{total_wall / total_audio:>8.3f}")
    print(f"\npeak RSS of this process (getrusage): {peak_rss_mb():.0f} MB\n")


def make_long_mp3(path: Path, minutes: int) -> None:
    """A meeting-like MP3: the spoken fixtures once every 10 minutes, low noise in between.

    Written block by block into the ffmpeg binary's stdin, so this process never holds the file either.
    """
    import imageio_ffmpeg

    from core.audio.pcm import SAMPLE_RATE, decode_pcm

    speech = np.concatenate([decode_pcm(p) for p in SPOKEN])
    rng = np.random.default_rng(0)
    ffmpeg = subprocess.Popen(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "s16le", "-ar", str(SAMPLE_RATE)]
        + ["-ac", "1", "-i", "-", "-c:a", "libmp3lame", "-b:a", "32k", str(path)],
        stdin=subprocess.PIPE,
    )
    assert ffmpeg.stdin is not None
    block, total = 600 * SAMPLE_RATE, minutes * 60 * SAMPLE_RATE
    for first in range(0, total, block):
        pcm = rng.standard_normal(min(block, total - first), dtype=np.float32) * np.float32(0.002)
        spoken = speech[: max(0, pcm.size - SAMPLE_RATE)]
        pcm[SAMPLE_RATE : SAMPLE_RATE + spoken.size] += spoken
        ffmpeg.stdin.write((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())
    ffmpeg.stdin.close()
    if ffmpeg.wait() != 0:
        raise RuntimeError("ffmpeg could not encode the long file")


MODES = {"stream": "iter_pcm_windows", "whole": "fw decode_audio", "transcribe": "local.transcribe"}


def memory_child(path: Path, mode: str) -> None:
    """Decode (or transcribe) `path` one way; print one JSON line of figures. Runs in a fresh process."""
    from core.audio.pcm import SAMPLE_RATE, iter_pcm_windows

    extra: dict[str, object] = {}
    if mode == "transcribe":
        from core.config import Settings
        from core.providers.base import ChunkProgress, TranscriptionRequest
        from core.providers.local import LocalProvider

        provider = LocalProvider.shared(Settings(local_model=None))
        provider.load()
    rss_before = current_rss_mb()
    t0 = time.perf_counter()
    samples = windows = 0
    if mode == "stream":
        for _offset, pcm in iter_pcm_windows(path):
            samples += pcm.size
            windows += 1
            float(pcm.max())  # touch every sample (without a temporary copy), as a consumer would
            del pcm  # as the local provider does: one window alive while the next is decoded
    elif mode == "whole":
        from faster_whisper.audio import decode_audio

        pcm = decode_audio(str(path))
        samples, windows = pcm.size, 1
        float(pcm.max())
        del pcm
    else:
        peaks: list[int] = []  # peak RSS after each window: it should level off, not climb

        def on_progress(progress: ChunkProgress) -> None:
            if progress.done:
                peaks.append(round(own_peak_rss_mb()))

        result = provider.transcribe(TranscriptionRequest(path, "bench", 0.0, on_progress=on_progress))
        samples, windows = int(result.duration_s * SAMPLE_RATE), len(peaks)
        extra["words"] = len(result.text.split())
        extra["peaks"] = peaks
    figures = {
        "audio_s": samples / SAMPLE_RATE,
        "windows": windows,
        "wall_s": time.perf_counter() - t0,
        "rss_before_mb": rss_before,
        "rss_after_mb": current_rss_mb(),
        "peak_rss_mb": own_peak_rss_mb(),
        **extra,
    }
    print(json.dumps(figures))


def bench_memory(minutes: list[int], modes: list[str]) -> None:
    print("memory on long meeting-like MP3s (each row a fresh process; RSS includes Python, PyAV, numpy,")
    print("and for local.transcribe the loaded model; 'before' is measured after imports and model load)")
    print(f"{'what':<18}{'audio min':>10}{'windows':>9}{'wall s':>8}{'RSS before':>12}{'peak':>8}{'after':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for length in minutes:
            path = Path(tmp) / f"long_{length}min.mp3"
            make_long_mp3(path, length)
            for mode in modes:
                out = subprocess.run(
                    [sys.executable, "-m", "bench.local", "--memory-child", str(path), "--mode", mode],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                f = json.loads(out.stdout.strip().splitlines()[-1])
                words = f" ({f['words']} words; peak after each window {f['peaks']})" if "words" in f else ""
                print(
                    f"{MODES[mode]:<18}{f['audio_s'] / 60:>10.1f}{f['windows']:>9}{f['wall_s']:>8.1f}"
                    f"{f['rss_before_mb']:>10.0f}MB{f['peak_rss_mb']:>6.0f}MB{f['rss_after_mb']:>6.0f}MB{words}"
                )
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.local", description=__doc__.splitlines()[0])
    parser.add_argument("--beam", type=int, default=None, help="beam size (default: the provider's)")
    parser.add_argument("--window-s", type=float, default=None, help="PCM window (default: the provider's)")
    parser.add_argument("--memory-minutes", type=int, nargs="*", default=[30, 60])
    parser.add_argument("--no-memory", action="store_true", help="skip the memory part")
    parser.add_argument("--memory-modes", nargs="*", choices=list(MODES), default=list(MODES), help="what to measure")
    parser.add_argument("--memory-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=list(MODES), default="stream", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child, args.mode)
        return 0
    bench_transcription(args.beam, args.window_s)  # first, so that its peak RSS is its own
    if not args.no_memory and args.memory_minutes:
        bench_memory(args.memory_minutes, args.memory_modes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
