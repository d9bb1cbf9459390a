"""Cache-hit latency for a ~100 MB file: `python -m bench.cache`.

Prints the time of a first (mock) run, of a cache hit (hash + probe + lookup, no provider call),
and the share of the hit spent hashing.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from core.audio.store import sha256_file
from core.config import load_settings
from core.identity.users import get_or_create_user
from core.providers.mock import MockProvider
from core.transcripts.service import transcribe_file
from core.workbench import Workbench


def make_wav(path: Path, megabytes: int) -> None:
    """A 44.1 kHz stereo 16-bit WAV of about `megabytes` MB (176 kB per second)."""
    import imageio_ffmpeg

    seconds = megabytes * 1024 * 1024 / (44_100 * 2 * 2)
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:sample_rate=44100:duration={seconds:.1f}",
            "-ac",
            "2",
            str(path),
        ],
        check=True,
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "big.wav"
        make_wav(src, 100)
        size_mb = src.stat().st_size / 1e6
        wb = Workbench.open(load_settings(secrets_file=None, data_dir=Path(tmp) / "data", provider="mock"))
        user = get_or_create_user(wb.Session, "bench")
        provider = MockProvider()

        started = time.perf_counter()
        transcribe_file(wb, src, "big.wav", user, provider=provider)
        first = time.perf_counter() - started

        hits = []
        for _ in range(5):
            started = time.perf_counter()
            outcome = transcribe_file(wb, src, "big.wav", user, provider=provider)
            hits.append(time.perf_counter() - started)
            assert outcome.cached
        started = time.perf_counter()
        sha256_file(src)
        hashing = time.perf_counter() - started

        hit = statistics.median(hits)
        print(f"file                 {size_mb:.1f} MB WAV")
        print(f"first run (mock)     {first * 1000:.0f} ms")
        print(f"cache hit (median/5) {hit * 1000:.0f} ms  ({size_mb / hit:.0f} MB/s)")
        print(f"  of which sha256    {hashing * 1000:.0f} ms ({hashing / hit:.0%})")
        print(f"provider calls       {len(provider.history)} (1 expected: hits never call)")
        wb.close()


if __name__ == "__main__":
    main()
