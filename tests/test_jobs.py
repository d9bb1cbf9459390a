"""Background jobs: lifecycle on a real consumer, limits, cancel, resumable stages, restart without re-billing."""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from core.cli.main import main as cli_main
from core.config import Settings, load_settings
from core.db.models import Job, UsageEvent, utcnow
from core.errors import Cancelled, InputError, NotFoundError, ProviderError
from core.identity.types import UserRecord
from core.identity.users import get_or_create_user
from core.jobs import api as jobs
from core.jobs import broker as queue
from core.jobs import worker
from core.jobs.states import ACTIVE_STATES, FINISHED_STATES
from core.providers.base import CallRecord, ChunkProgress, SummaryResult, TranscriptionRequest, TranscriptionResult
from core.transcripts import repository as repo
from core.transcripts.service import TranscribeOptions
from core.transcripts.types import Segment
from core.workbench import Workbench
from tests.conftest import FIXTURES, cli_env, make_users

FACTORY = "tests.test_jobs:chunked_provider"
CHUNK_USD = 0.01
SPEECH = [FIXTURES / "speech_1.wav", FIXTURES / "speech_2.mp3", FIXTURES / "speech_3.ogg"]


# ---- a provider that splits every file into N chunks; usable from a worker in another process ----------


@dataclass
class ChunkedProvider:
    """N chunks, `sleep_s` each, finished chunks kept in request.chunk_store, every billed call logged to a file."""

    data_dir: Path
    chunks: int = 4
    sleep_s: float = 0.0
    fail_summary: bool = False
    type_error: bool = False  # a bug in the provider, not a provider failure
    name: str = "chunked"

    def default_model(self) -> str:
        return "chunked-1"

    def _log(self, line: str) -> None:
        with (self.data_dir / "provider_calls.log").open("a") as f:
            f.write(line + "\n")

    def transcribe(self, request: TranscriptionRequest) -> TranscriptionResult:
        store, key = request.chunk_store, request.cache_key
        request.on_progress(ChunkProgress(0, self.chunks))
        if self.type_error:
            raise TypeError("unsupported operand type(s) for +: 'int' and 'NoneType'")
        texts: list[str] = []
        for i in range(self.chunks):
            if request.should_cancel():
                raise Cancelled("The transcription was cancelled.")
            done = store.get(key, i) if store else None
            if done is None:
                time.sleep(self.sleep_s)
                self._log(f"transcribe {i}")
                request.on_call(CallRecord("transcribe", "chunked-1", cost_usd=CHUNK_USD, chunk_index=i))
                done = {"text": f"chunk {i} of {request.sha256[:6]}."}
                if store:
                    store.put(key, i, done)
            texts.append(done["text"])
            request.on_progress(ChunkProgress(i + 1, self.chunks))
        segments = [Segment(float(i), float(i + 1), t) for i, t in enumerate(texts)]
        return TranscriptionResult(" ".join(texts), segments, "en", "chunked-1", float(self.chunks))

    def summarize(
        self, text: str, *, model: str | None = None, on_call: Callable[[CallRecord], None] = lambda _c: None
    ) -> SummaryResult:
        if self.fail_summary:
            on_call(CallRecord("summarize", model or "chunked-1", status="error", error="down"))
            raise ProviderError("The summary service is down; try again later.", retryable=True)
        self._log("summarize")
        on_call(CallRecord("summarize", model or "chunked-1", input_tokens=len(text.split()), cost_usd=0.001))
        return SummaryResult(f"Summary of {len(text.split())} words.", model or "chunked-1")


def chunked_provider(_name: str, settings: Settings) -> ChunkedProvider:
    """The WORKBENCH_PROVIDER_FACTORY the tests plug in; knobs come from a file so any process sees them."""
    knobs = settings.data_dir / "chunked.json"
    return ChunkedProvider(settings.data_dir, **(json.loads(knobs.read_text()) if knobs.exists() else {}))


def set_knobs(settings: Settings, **knobs: Any) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "chunked.json").write_text(json.dumps(knobs))


def calls(settings: Settings, kind: str = "transcribe") -> int:
    log = settings.data_dir / "provider_calls.log"
    return sum(1 for line in log.read_text().splitlines() if line.startswith(kind)) if log.exists() else 0


# ---- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Overrides conftest's: fast polling and the chunked provider plugged in."""
    return load_settings(secrets_file=None, data_dir=tmp_path / "data", provider="mock", job_poll_s=0.2,
                         provider_factory=FACTORY)  # fmt: skip


@pytest.fixture
def consumer(wb: Workbench) -> Iterator[queue.EmbeddedConsumer]:
    c = jobs.start_embedded_consumer(wb, workers=2)
    yield c
    c.stop()


def wait_for(wb: Workbench, job_id: int, user: UserRecord, until: Callable[[jobs.JobRecord], bool],
             timeout: float = 60.0) -> jobs.JobRecord:  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        job = jobs.get_job(wb, job_id, user)
        if until(job):
            return job
        assert time.monotonic() < deadline, f"timed out; job is {job}"
        time.sleep(0.05)


def finished(job: jobs.JobRecord) -> bool:
    return job.state in FINISHED_STATES


def submit(wb: Workbench, user: UserRecord, path: Path = SPEECH[0], **opts: Any) -> jobs.JobRecord:
    return jobs.submit_transcription(wb, path, path.name, user, TranscribeOptions(**opts))


def attempts(wb: Workbench, job_id: int) -> int:
    with wb.Session() as s:
        return int(s.scalar(select(Job.attempts).where(Job.id == job_id)) or 0)


# ---- tests ------------------------------------------------------------------------------------------------


def test_bad_input_is_refused_at_once_and_nothing_is_queued(wb, alice):
    with pytest.raises(InputError, match="bad_pdf.mp3"):
        jobs.submit_transcription(wb, FIXTURES / "bad_pdf.mp3", "bad_pdf.mp3", alice, TranscribeOptions())
    with pytest.raises(InputError, match="language"):
        submit(wb, alice, language="klingon")
    assert jobs.list_jobs(wb, alice) == [] and queue.queue_for(wb.settings).pending() == 0


def test_inline_run_stores_the_transcript_and_bills_the_job(wb, alice):
    set_knobs(wb.settings, chunks=3)
    queued = submit(wb, alice)
    assert (queued.state, queued.queue_position, queued.owner) == ("queued", 1, "alice")
    job = jobs.run_job_inline(wb, queued.id)
    assert (job.state, job.progress, job.chunks_done, job.chunks_total, job.error) == ("done", 1.0, 3, 3, None)
    assert job.started_at and job.finished_at and job.started_at >= job.created_at
    transcript = repo.get_transcript(wb.Session, job.transcript_id, alice)
    assert transcript.text.startswith("chunk 0 of") and job.partial_text == transcript.text
    assert job.cost_usd == pytest.approx(3 * CHUNK_USD) and not job.cached and calls(wb.settings) == 3
    again = jobs.run_job_inline(wb, jobs.submit_transcription(wb, SPEECH[0], "copy.wav", alice, TranscribeOptions()).id)
    assert again.state == "done" and again.cached and again.cost_usd == 0.0 and calls(wb.settings) == 3


def test_an_unexpected_error_fails_the_job_with_a_sentence_and_logs_its_traceback_once(wb, alice, caplog):
    set_knobs(wb.settings, chunks=2, type_error=True)
    with caplog.at_level(logging.ERROR):
        job = jobs.run_job_inline(wb, submit(wb, alice).id)
    assert (job.state, job.error) == ("failed", "Unexpected error (TypeError); the worker log has the details")
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1 and isinstance(logged[0].exc_info[1], TypeError), caplog.records
    assert "Traceback" in caplog.text and "NoneType" not in job.error


def test_lifecycle_on_a_real_consumer(wb, alice, consumer):
    set_knobs(wb.settings, chunks=3, sleep_s=0.2)
    ids = [submit(wb, alice, path).id for path in SPEECH]
    seen_running = wait_for(wb, ids[0], alice, lambda j: j.state == "running" and j.chunks_done >= 1)
    assert re.fullmatch(r"chunk [1-3] of 3", seen_running.stage or "") and 0 < seen_running.progress < 1
    assert seen_running.partial_text and seen_running.partial_text.startswith("chunk 0 of")
    done = [wait_for(wb, job_id, alice, finished) for job_id in ids]
    assert [j.state for j in done] == ["done"] * 3 and all(j.transcript_id for j in done)
    assert calls(wb.settings) == 9 and sum(j.cost_usd for j in done) == pytest.approx(9 * CHUNK_USD)
    assert jobs.list_jobs(wb, alice, active_only=True) == []
    assert [j.id for j in jobs.list_jobs(wb, alice)] == sorted(ids, reverse=True)


def test_limits_queue_jobs_fifo_per_user_and_overall(tmp_path):
    s = load_settings(secrets_file=None, data_dir=tmp_path / "limits", provider="mock", provider_factory=FACTORY,
                      jobs_max_per_user=1, jobs_max_total=2)  # fmt: skip
    wb = Workbench.open(s)
    try:
        alice = get_or_create_user(wb.Session, "alice")
        bob = get_or_create_user(wb.Session, "bob")
        a1, a2, b1, a3, b2 = (submit(wb, u).id for u in (alice, alice, bob, alice, bob))
        assert [queue.claim_next(wb), queue.claim_next(wb), queue.claim_next(wb)] == [(a1, 1), (b1, 1), None]
        positions = {j.id: j.queue_position for j in jobs.list_jobs(wb, alice) + jobs.list_jobs(wb, bob)}
        assert positions == {a1: None, b1: None, a2: 1, a3: 2, b2: 3}
        worker.run_claimed(worker.WorkerContext(wb), a1, 1)
        assert queue.claim_next(wb) == (a2, 1)  # alice is under her limit again, and a2 is the oldest
    finally:
        wb.close()


def test_cancel_a_queued_job_and_it_never_runs(wb, alice):
    job = jobs.cancel_job(wb, submit(wb, alice).id, alice)
    assert (job.state, job.error, job.queue_position) == ("cancelled", "Cancelled by alice before it started", None)
    assert jobs.run_job_inline(wb, job.id).state == "cancelled" and calls(wb.settings) == 0


def test_cancel_stops_after_the_current_chunk_and_retry_bills_only_the_rest(wb, alice, consumer):
    set_knobs(wb.settings, chunks=6, sleep_s=0.4)
    job_id = submit(wb, alice).id
    wait_for(wb, job_id, alice, lambda j: j.chunks_done >= 2)
    assert jobs.cancel_job(wb, job_id, alice).cancel_requested
    job = wait_for(wb, job_id, alice, finished)
    match = re.fullmatch(r"Cancelled by alice; (\d) of 6 chunks kept", job.error or "")
    assert job.state == "cancelled" and match, job
    kept = int(match.group(1))
    assert kept < 6 and calls(wb.settings) == kept and job.cost_usd == pytest.approx(kept * CHUNK_USD)
    assert job.partial_text and job.partial_text.count("chunk") == kept and job.transcript_id is None
    assert jobs.retry_job(wb, job_id, alice).state in ACTIVE_STATES
    job = wait_for(wb, job_id, alice, finished)
    assert job.state == "done" and calls(wb.settings) == 6 and job.cost_usd == pytest.approx(6 * CHUNK_USD)
    with pytest.raises(InputError, match="only failed or cancelled"):
        jobs.retry_job(wb, job_id, alice)


def test_a_failed_summary_keeps_the_transcript_and_is_retried_alone(wb, alice):
    set_knobs(wb.settings, chunks=2, fail_summary=True)
    job = jobs.run_job_inline(wb, submit(wb, alice, summarize=True).id)
    assert (job.state, job.stage, job.error) == ("failed", "summarize", "The summary service is down; try again later.")
    transcript = repo.get_transcript(wb.Session, job.transcript_id, alice)
    assert transcript.text and transcript.summary is None and calls(wb.settings) == 2
    set_knobs(wb.settings, chunks=2)
    assert jobs.run_job_inline(wb, jobs.retry_job(wb, job.id, alice).id).state == "done"
    again = jobs.run_job_inline(wb, jobs.submit_summary(wb, job.transcript_id, alice, model="other-model").id)
    assert (again.kind, again.state, again.transcript_id) == ("summarize", "done", job.transcript_id)
    assert repo.get_transcript(wb.Session, job.transcript_id, alice).summary_model == "other-model"
    assert calls(wb.settings) == 2 and calls(wb.settings, "summarize") == 2  # never re-transcribed


def test_members_see_only_their_jobs_and_admins_see_all(wb, alice, bob, admin):
    job = submit(wb, alice)
    for act in (jobs.get_job, jobs.cancel_job, jobs.retry_job):
        with pytest.raises(NotFoundError):
            act(wb, job.id, bob)
    with pytest.raises(NotFoundError):
        jobs.submit_summary(wb, 999, alice)
    assert jobs.list_jobs(wb, bob) == [] and [j.id for j in jobs.list_jobs(wb, admin)] == [job.id]
    assert jobs.cancel_job(wb, job.id, admin).error == "Cancelled by root before it started"


def test_stopping_the_embedded_consumer_hands_the_job_back_and_a_new_one_resumes(wb, alice):
    set_knobs(wb.settings, chunks=6, sleep_s=0.3)
    first = jobs.start_embedded_consumer(wb, workers=1)
    assert jobs.start_embedded_consumer(wb, workers=1) is first  # idempotent
    job_id = submit(wb, alice).id
    wait_for(wb, job_id, alice, lambda j: j.chunks_done >= 2)
    first.stop()
    job = jobs.get_job(wb, job_id, alice)
    assert job.state == "queued" and job.chunks_done < 6 and attempts(wb, job_id) == 0
    second = jobs.start_embedded_consumer(wb, workers=1)
    try:
        assert second is not first
        assert wait_for(wb, job_id, alice, finished).state == "done"
    finally:
        second.stop()
    assert calls(wb.settings) == 6


def test_an_orphaned_job_is_requeued_and_given_up_after_repeated_crashes(wb, alice):
    ids = [submit(wb, alice).id, submit(wb, alice, language="de").id]
    long_ago = utcnow() - timedelta(minutes=5)
    with wb.Session.begin() as s:
        s.execute(update(Job).values(state="running", heartbeat_at=long_ago))
        s.execute(update(Job).where(Job.id == ids[1]).values(attempts=worker.MAX_ATTEMPTS))
    assert queue.recover_stale(wb) == 1
    requeued, given_up = (jobs.get_job(wb, i, alice) for i in ids)
    assert requeued.state == "queued" and given_up.state == "failed" and "given up" in (given_up.error or "")


def test_a_runner_presumed_dead_stops_once_another_worker_has_claimed_its_job(wb, alice):
    set_knobs(wb.settings, chunks=4, sleep_s=0.3)
    job_id = submit(wb, alice).id
    first_claim = queue.claim(wb, job_id)
    slow = threading.Thread(target=worker.run_claimed, args=(worker.WorkerContext(wb), job_id, first_claim))
    slow.start()
    wait_for(wb, job_id, alice, lambda j: j.chunks_done >= 1)
    with wb.Session.begin() as s:  # what recover_stale does when heartbeats stop arriving for too long
        s.execute(update(Job).where(Job.id == job_id).values(state="queued"))
    second_claim = queue.claim(wb, job_id)
    slow.join(10)
    assert second_claim == first_claim + 1 and jobs.get_job(wb, job_id, alice).state == "running"
    worker.run_claimed(worker.WorkerContext(wb), job_id, second_claim)
    assert jobs.get_job(wb, job_id, alice).state == "done" and calls(wb.settings) == 4


def test_kill_the_worker_mid_job_and_a_restart_finishes_without_rebilling(wb, alice, tmp_path):
    set_knobs(wb.settings, chunks=6, sleep_s=0.5)
    env = cli_env(wb.settings.data_dir, WORKBENCH_PROVIDER="mock", WORKBENCH_PROVIDER_FACTORY=FACTORY,
                  WORKBENCH_JOB_POLL_S="0.2")  # fmt: skip
    job_id = submit(wb, alice).id

    def start_worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "core", "worker", "--workers", "1"], cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    first = start_worker()
    try:
        wait_for(wb, job_id, alice, lambda j: j.chunks_done >= 2)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    billed_before = calls(wb.settings)
    orphan = jobs.get_job(wb, job_id, alice)
    assert orphan.state == "running" and 2 <= billed_before < 6
    second = start_worker()
    try:
        job = wait_for(wb, job_id, alice, finished)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    assert job.state == "done" and attempts(wb, job_id) == 2
    assert calls(wb.settings) == 6  # the chunks finished before the kill were neither re-sent nor re-billed
    with wb.Session() as s:
        assert s.scalar(select(func.count()).where(UsageEvent.job_id == job_id)) == 6
    assert job.cost_usd == pytest.approx(6 * CHUNK_USD)


def test_cli_background_jobs_list_and_cancel(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WORKBENCH_PROVIDER", "mock")
    code = cli_main(["transcribe", str(SPEECH[0]), str(FIXTURES / "bad_pdf.mp3"), str(SPEECH[1]), "--background"])
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 2 and "bad_pdf.mp3" in err and [set(r) for r in rows] == [{"job"}, {"job"}]
    assert cli_main(["jobs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [j["id"] for j in listed] == [rows[1]["job"], rows[0]["job"]]
    assert {j["state"] for j in listed} == {"queued"} and listed[0]["queue_position"] == 2
    assert {"state", "stage", "progress", "owner", "error", "cost_usd"} <= set(listed[0])
    assert cli_main(["jobs", "cancel", str(rows[0]["job"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "cancelled"
    make_users(tmp_path / "data", "bob")
    assert cli_main(["jobs", "--user", "bob", "--json"]) == 0 and json.loads(capsys.readouterr().out) == []
    assert cli_main(["jobs", "--user", "bob", "cancel", str(rows[1]["job"])]) == 5  # not bob's: not found
