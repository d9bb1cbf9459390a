"""Long-audio benchmark: a 60-minute file against the fake OpenAI server, at concurrency 1 and 4.

    python -m bench.longaudio                 # 60 min, 20 ms of server time per second of audio
    python -m bench.longaudio --minutes 20 --latency 0.05

The fake server runs in its own process and answers after a delay proportional to each upload's audio
length (it does not decode the words, so its CPU stays out of the figures). Each concurrency runs in a
child process, so its peak RSS belongs to that run only (ffmpeg children are separate processes, about
30 MB each, one per lane). Prints wall time at each concurrency and the ratio, the serial part (decode
and silence detection), peak RSS, and upload bytes vs original bytes.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any


def _stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/fake/stats", timeout=10) as answer:
        stats: dict[str, Any] = json.load(answer)
    return stats


def child(path: Path, base_url: str, concurrency: int, chunk_s: float) -> None:
    """One transcription run; prints its figures as JSON."""
    from core.audio.chunks import prepare
    from core.config import Settings
    from core.providers.base import TranscriptionRequest
    from core.providers.openai.provider import OpenAIProvider

    settings = Settings(
        openai_base_url=base_url,
        openai_api_key="sk-bench",
        openai_concurrency=concurrency,
        data_dir=path.parent / "data",
        request_timeout_s=600,
    )
    provider = OpenAIProvider.from_settings(settings, target_chunk_s=chunk_s)
    before = _stats(base_url)
    calls: list[Any] = []
    started = time.perf_counter()
    result = provider.transcribe(TranscriptionRequest(path, "bench", 0.0, on_call=calls.append))
    wall = time.perf_counter() - started
    after = _stats(base_url)
    started = time.perf_counter()
    prepare(path, path.parent / "prepare-only.wav")  # the serial part: decode + silence detection
    prepare_s = time.perf_counter() - started
    print(
        json.dumps(
            {
                "concurrency": concurrency,
                "wall_s": wall,
                "prepare_s": prepare_s,
                "chunks": len(calls),
                "requests": after["requests"] - before["requests"],
                "upload_bytes": after["upload_bytes"] - before["upload_bytes"],
                "audio_seconds": result.duration_s,
                "cost_usd": sum(c.cost_usd for c in calls),
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--latency", type=float, default=0.02, help="server seconds per second of audio")
    parser.add_argument("--chunk", type=float, default=600.0, help="target chunk length in seconds")
    parser.add_argument("--child", nargs=2, metavar=("FILE", "URL"), help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], args.concurrency, args.chunk)
        return

    from tests.fake_openai import write_tone_speech

    with tempfile.TemporaryDirectory(prefix="bench-longaudio-") as tmp:
        original = Path(tmp) / "meeting.wav"
        started = time.perf_counter()
        spoken = write_tone_speech(original, args.minutes * 60, seed=11)
        print(
            f"generated {args.minutes:.0f} min of tone speech ({len(spoken)} words, "
            f"{original.stat().st_size / 1e6:.1f} MB 16 kHz mono WAV) in {time.perf_counter() - started:.1f} s"
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_openai", "--latency", str(args.latency), "--no-hear"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            base_url = server.stdout.readline().strip()
            runs = []
            for concurrency in (1, 4):
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bench.longaudio",
                        "--child",
                        str(original),
                        base_url,
                        "--concurrency",
                        str(concurrency),
                        "--chunk",
                        str(args.chunk),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                runs.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            server.terminate()
            server.wait()
        size = original.stat().st_size
        print(f"server latency {args.latency * 1000:.0f} ms per audio second; target chunk {args.chunk:.0f} s")
        print(
            f"{'conc':>4} {'wall s':>7} {'prepare s':>9} {'chunks':>6} {'requests':>8} {'upload MB':>9} "
            f"{'upload/original':>15} {'peak RSS MB':>11} {'cost $':>7}"
        )
        for r in runs:
            print(
                f"{r['concurrency']:>4} {r['wall_s']:>7.1f} {r['prepare_s']:>9.1f} {r['chunks']:>6} "
                f"{r['requests']:>8} {r['upload_bytes'] / 1e6:>9.2f} {r['upload_bytes'] / size:>15.3%} "
                f"{r['rss_mb']:>11.0f} {r['cost_usd']:>7.4f}"
            )
        print(
            f"speed-up c=4 vs c=1: {runs[0]['wall_s'] / runs[1]['wall_s']:.2f}x; "
            f"original {size / 1e6:.1f} MB, uploaded {runs[1]['upload_bytes'] / 1e6:.2f} MB"
        )


if __name__ == "__main__":
    main()
