"""The scale-out path: jobs go through the real Redis on 127.0.0.1:6379 to a standalone `core worker`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings, load_settings
from core.jobs import api as jobs
from core.jobs import broker as queue
from core.workbench import Workbench
from tests.conftest import cli_env
from tests.test_jobs import CHUNK_USD, FACTORY, SPEECH, calls, finished, set_knobs, submit, wait_for

pytestmark = pytest.mark.redis
REDIS_URL = "redis://127.0.0.1:6379/13"  # a database number of its own; every key is removed afterwards


def _redis() -> object:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        # A failure, not a skip: the scale-out path must be proven wherever the suite runs.
        pytest.fail("no Redis on 127.0.0.1:6379; start one (.ci/run does) to test the scale-out path")
    return client


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    client = _redis()
    s = load_settings(secrets_file=None, data_dir=tmp_path / "data", provider="mock", job_poll_s=0.2,
                      provider_factory=FACTORY, redis_url=REDIS_URL)  # fmt: skip
    yield s
    name = queue.queue_name(s)  # unique per test: derived from the test's own database path
    for key in client.scan_iter(match=f"*{name}*"):  # type: ignore[attr-defined]
        client.delete(key)  # type: ignore[attr-defined]


def test_jobs_wait_in_redis_and_a_standalone_worker_runs_them(wb: Workbench, alice, tmp_path):
    set_knobs(wb.settings, chunks=3, sleep_s=0.1)
    ids = [submit(wb, alice, path).id for path in SPEECH]
    job_queue = queue.queue_for(wb.settings)
    assert job_queue.backend == "redis" and job_queue.pending() == 3
    embedded = jobs.start_embedded_consumer(wb)  # the app only enqueues when Redis is configured
    assert embedded.workers == 0 and not embedded.running
    env = cli_env(wb.settings.data_dir, WORKBENCH_PROVIDER="mock", WORKBENCH_PROVIDER_FACTORY=FACTORY,
                  WORKBENCH_JOB_POLL_S="0.2", WORKBENCH_REDIS_URL=REDIS_URL)  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "core", "worker", "--workers", "2"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        done = [wait_for(wb, job_id, alice, finished) for job_id in ids]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert [j.state for j in done] == ["done"] * 3, err.decode()
    assert calls(wb.settings) == 9 and sum(j.cost_usd for j in done) == pytest.approx(9 * CHUNK_USD)
    assert job_queue.pending() == 0 and b"Redis 127.0.0.1:6379" in err


def test_cancel_and_retry_through_redis_with_in_process_workers(wb: Workbench, alice):
    set_knobs(wb.settings, chunks=5, sleep_s=0.3)
    consumer = jobs.start_embedded_consumer(wb, workers=2)  # explicit workers: threads even in Redis mode
    try:
        job_id = submit(wb, alice).id
        wait_for(wb, job_id, alice, lambda j: j.chunks_done >= 1)
        jobs.cancel_job(wb, job_id, alice)
        job = wait_for(wb, job_id, alice, finished)
        assert job.state == "cancelled" and calls(wb.settings) == job.chunks_done < 5
        jobs.retry_job(wb, job_id, alice)
        assert wait_for(wb, job_id, alice, finished).state == "done" and calls(wb.settings) == 5
    finally:
        consumer.stop()
