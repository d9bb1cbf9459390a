"""Job queue throughput and time-to-start: `python -m bench.jobs [--jobs 40 --workers 4 --latency 0.5]`.

Queues N mock transcription jobs (cache off, so each one calls the provider) from several users, then
starts an embedded consumer on the SQLite queue and times the burst: throughput, and time-to-start
from the consumer's start (it includes waiting for a free worker: with 4 workers the 40th job waits
for 9 rounds). A second phase sends jobs one at a time to idle workers: the queue's own pickup delay.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from bench.cache import make_wav
from core.config import Settings, load_settings
from core.db.models import Job, utcnow
from core.identity.types import UserRecord
from core.identity.users import get_or_create_user
from core.jobs import api as jobs
from core.providers.base import CallRecord, SummaryResult, TranscriptionRequest, TranscriptionResult
from core.providers.mock import MockProvider
from core.transcripts.service import TranscribeOptions
from core.workbench import Workbench

LATENCY_S = 0.0  # set by main(); the provider below sleeps this long per job, like a real API call


class SlowMock:
    """The mock provider plus a fixed per-job latency."""

    name = "mock"

    def __init__(self) -> None:
        self._mock = MockProvider()

    def default_model(self) -> str:
        return self._mock.default_model()

    def transcribe(self, request: TranscriptionRequest) -> TranscriptionResult:
        time.sleep(LATENCY_S)
        return self._mock.transcribe(request)

    def summarize(
        self, text: str, *, model: str | None = None, on_call: Callable[[CallRecord], None] = lambda _c: None
    ) -> SummaryResult:
        return self._mock.summarize(text, model=model, on_call=on_call)


def slow_mock(_name: str, _settings: Settings) -> SlowMock:
    return SlowMock()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait_all(wb: Workbench, ids: list[int], admin: UserRecord, timeout: float = 600) -> list[jobs.JobRecord]:
    """Poll cheaply (one query every 0.1 s) so the harness does not steal the workers' CPU."""
    deadline, wanted = time.monotonic() + timeout, set(ids)
    while True:
        with wb.Session() as s:
            left = s.scalar(select(func.count()).where(Job.id.in_(wanted), Job.state.in_(jobs.ACTIVE_STATES)))
        if not left or time.monotonic() > deadline:
            return [jobs.get_job(wb, i, admin) for i in ids]
        time.sleep(0.1)


def main() -> None:
    global LATENCY_S
    p = argparse.ArgumentParser(prog="python -m bench.jobs")
    p.add_argument("--jobs", type=int, default=40)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--users", type=int, default=4)
    p.add_argument("--latency", type=float, default=0.5, help="seconds the mock provider takes per job")
    args = p.parse_args()
    LATENCY_S = args.latency
    with tempfile.TemporaryDirectory() as tmp:
        audio = Path(tmp) / "clip.wav"
        make_wav(audio, 1)
        settings = load_settings(secrets_file=None, data_dir=Path(tmp) / "data", provider="mock",
                                 provider_factory="bench.jobs:slow_mock", workers=args.workers,
                                 jobs_max_total=args.workers,
                                 rate_transcriptions_per_minute=0, rate_max_active_jobs=0)  # fmt: skip
        wb = Workbench.open(settings)
        admin = get_or_create_user(wb.Session, "bench-admin", "admin")
        users = [get_or_create_user(wb.Session, f"bench{i}") for i in range(args.users)]

        # A prompt of its own per job: every job calls the provider and stores its own cache entry.
        def opts(i: int) -> TranscribeOptions:
            return TranscribeOptions(use_cache=False, prompt=f"bench job {i}")

        # One job first, alone: two first-ever jobs of a file racing to insert its audio row is a known
        # repository issue (upsert_audio), not what this measures.
        jobs.run_job_inline(wb, jobs.submit_transcription(wb, audio, "warm.wav", admin, opts(0)).id)
        started = time.perf_counter()
        ids = [jobs.submit_transcription(wb, audio, f"clip{i}.wav", users[i % len(users)], opts(i)).id
               for i in range(1, args.jobs + 1)]  # fmt: skip
        submit_s = time.perf_counter() - started
        burst_at = utcnow()  # all jobs are waiting when the consumer starts: the queue drains a burst
        started = time.perf_counter()
        consumer = jobs.start_embedded_consumer(wb, workers=args.workers)
        try:
            records = wait_all(wb, ids, admin)
            elapsed = time.perf_counter() - started
            idle = []
            for i in range(10):  # one at a time: every worker idle when the job arrives
                job_id = jobs.submit_transcription(wb, audio, f"idle{i}.wav", users[0], opts(-1 - i)).id
                idle.extend(wait_all(wb, [job_id], admin))
        finally:
            consumer.stop()
            wb.close()
    done = [r for r in records if r.state == "done"]
    to_start = [(r.started_at - burst_at).total_seconds() for r in done if r.started_at]
    spans = [(r.started_at, r.finished_at) for r in done if r.started_at and r.finished_at]
    concurrent = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    pickup = [(r.started_at - r.created_at).total_seconds() for r in idle if r.started_at]
    print(json.dumps({
        "jobs": args.jobs, "done": len(done), "workers": args.workers, "users": args.users,
        "provider_latency_s": args.latency, "submit_ms_per_job": round(1000 * submit_s / args.jobs, 1),
        "wall_s": round(elapsed, 2),
        "throughput_jobs_per_s": round(len(done) / elapsed, 2),
        "ideal_jobs_per_s": round(args.workers / args.latency, 2) if args.latency else None,
        "max_running_at_once": concurrent,
        "mean_run_s": round(statistics.mean((b - a).total_seconds() for a, b in spans), 3),
        "time_to_start_p50_s": round(statistics.median(to_start), 3),
        "time_to_start_p95_s": round(pct(to_start, 0.95), 3),
        "idle_pickup_p50_s": round(statistics.median(pickup), 3),
        "idle_pickup_p95_s": round(pct(pickup, 0.95), 3),
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    from bench.jobs import main as imported_main  # the factory imports bench.jobs: set LATENCY_S there

    imported_main()
