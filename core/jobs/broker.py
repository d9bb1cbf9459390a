"""The huey queue (a SQLite file under data_dir, or Redis) and the consumers that run jobs from it.

The database is the source of truth: a queue message is only a wake-up call carrying a job id, and the
worker that takes it claims the next eligible job row. So a lost message, a crashed worker or a full
limit never loses a job; a reaper re-queues orphaned jobs and wakes a worker when eligible work waits.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import threading
import time
from datetime import timedelta
from typing import Any, cast

from huey import RedisHuey, SqliteHuey
from huey.api import Huey
from huey.consumer import Consumer
from sqlalchemy import CursorResult, and_, case, func, or_, select, update
from sqlalchemy.orm import aliased

from core.config import Settings
from core.db.models import Job, utcnow
from core.jobs import worker
from core.workbench import Workbench

log = logging.getLogger(__name__)
SHUTDOWN_GRACE_S = 8.0  # a stopping worker waits this long for running jobs to reach a chunk boundary


def queue_name(settings: Settings) -> str:
    """One queue per database: workers on any machine sharing the database URL share the queue."""
    return "workbench-" + hashlib.sha256(settings.db_url.encode()).hexdigest()[:12]


# ---- queue discipline: which job starts next -----------------------------------------------------------


def _start_values() -> dict[str, Any]:
    now = utcnow()
    first = case((and_(Job.kind == "transcribe", Job.transcript_id.is_(None)), "transcode"), else_="summarize")
    return {"state": "running", "stage": first, "started_at": now, "heartbeat_at": now, "error": None,
            "finished_at": None, "attempts": Job.attempts + 1}  # fmt: skip


def _eligible(settings: Settings) -> Any:
    """The oldest queued job whose owner is under the per-user limit (a select of its id)."""
    candidate, mine = aliased(Job), aliased(Job)
    owner_running = (
        select(func.count()).select_from(mine)
        .where(mine.state == "running", mine.owner_id == candidate.owner_id).scalar_subquery()
    )  # fmt: skip
    return (
        select(candidate.id)
        .where(candidate.state == "queued", owner_running < settings.jobs_max_per_user)
        .order_by(candidate.id).limit(1)
    )  # fmt: skip


def _total_running() -> Any:
    anyone = aliased(Job)
    return select(func.count()).select_from(anyone).where(anyone.state == "running").scalar_subquery()


def claim_next(wb: Workbench) -> tuple[int, int] | None:
    """Mark the next eligible job running: (id, claim), or None when the queue is empty or limits are full."""
    # One UPDATE: SQLite serialises writers, so two workers can never claim the same job or pass a limit.
    stmt = (
        update(Job)
        .where(Job.id == _eligible(wb.settings).scalar_subquery(), Job.state == "queued",
               _total_running() < wb.settings.jobs_max_total)
        .values(**_start_values()).returning(Job.id, Job.attempts)
    )  # fmt: skip
    with wb.Session.begin() as s:
        row = s.execute(stmt, execution_options={"synchronize_session": False}).first()
        return (row[0], row[1]) if row else None


def claim(wb: Workbench, job_id: int) -> int | None:
    """Mark this queued job running regardless of the limits (inline runs); its claim, or None."""
    stmt = update(Job).where(Job.id == job_id, Job.state == "queued").values(**_start_values())
    with wb.Session.begin() as s:
        return s.execute(stmt.returning(Job.attempts), execution_options={"synchronize_session": False}).scalar()


def has_eligible(wb: Workbench) -> bool:
    """Whether a queued job could start now."""
    with wb.Session() as s:
        if s.scalar(_eligible(wb.settings)) is None:
            return False
        return int(s.scalar(select(_total_running())) or 0) < wb.settings.jobs_max_total


def drain(ctx: worker.WorkerContext) -> int:
    """Run eligible jobs one after another until none is left (or the consumer stops); returns how many."""
    ran = 0
    while not ctx.stopping.is_set():
        claimed = claim_next(ctx.wb)
        if claimed is None:
            break
        worker.run_claimed(ctx, *claimed)
        ran += 1
    return ran


def run_inline(wb: Workbench, job_id: int) -> None:
    """Claim and run one job in this thread."""
    held = claim(wb, job_id)
    if held is not None:
        worker.run_claimed(worker.WorkerContext(wb), job_id, held)


# ---- queue discipline: recovery ------------------------------------------------------------------------


def recover_stale(wb: Workbench) -> int:
    """Re-queue running jobs whose worker stopped beating (a crash, a kill -9); returns how many."""
    cutoff = utcnow() - timedelta(seconds=worker.STALE_BEATS * wb.settings.job_poll_s)
    stale = (Job.state == "running", or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff))
    with wb.Session() as s:
        if not s.scalar(select(func.count()).select_from(Job).where(*stale)):
            return 0
    given_up = (f"The worker stopped {worker.MAX_ATTEMPTS} times while running this job, so it was given up; "
                "retry it to try again")  # fmt: skip
    with wb.Session.begin() as s:
        s.execute(update(Job).where(*stale, Job.attempts >= worker.MAX_ATTEMPTS)
                  .values(state="failed", error=given_up, finished_at=utcnow(), heartbeat_at=None))  # fmt: skip
        result = s.execute(update(Job).where(*stale).values(state="queued", stage=None, heartbeat_at=None))
        requeued = cast(CursorResult[Any], result).rowcount
    if requeued:
        log.warning("re-queued %d job(s) whose worker stopped", requeued)
    return requeued


# ---- the huey queue ------------------------------------------------------------------------------------


class JobQueue:
    """The huey instance of one database in this process, its task, and the context its workers share."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.backend = "redis" if settings.redis_url else "sqlite"
        self.huey: Huey
        if settings.redis_url:
            self.huey = RedisHuey(queue_name(settings), url=settings.redis_url, results=False)
        else:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            path = str(settings.data_dir / "huey.db")
            self.huey = SqliteHuey(queue_name(settings), filename=path, results=False)
        self._task = self.huey.task(name="run_jobs")(self._run_token)
        self._ctx: worker.WorkerContext | None = None
        self._lock = threading.Lock()

    def enqueue(self, job_id: int) -> None:
        """Wake a worker for this job (it takes whichever eligible job is next)."""
        self.huey.enqueue(self._task.s(job_id))

    def pending(self) -> int:
        return int(self.huey.pending_count())

    def context(self, *, fresh: bool = False) -> worker.WorkerContext:
        """The workers' own workbench (engine + sessions), never the caller's; `fresh` after a stop."""
        with self._lock:
            if self._ctx is None or (fresh and self._ctx.stopping.is_set()):
                self._ctx = worker.WorkerContext(Workbench.open(self.settings, run_migrations=False))
            return self._ctx

    def _run_token(self, job_id: int) -> None:
        ran = drain(self.context())
        log.debug("wake-up for job %s ran %d job(s)", job_id, ran)

    def tend(self) -> None:
        """Re-queue orphaned jobs and make sure a wake-up waits whenever a job could start."""
        ctx = self.context()
        for _ in range(recover_stale(ctx.wb)):
            self.enqueue(0)
        if self.pending() == 0 and has_eligible(ctx.wb):
            self.enqueue(0)

    def stop_jobs(self) -> None:
        """Running jobs stop at their next chunk; any still in hand go back to the queue."""
        ctx = self.context()
        ctx.stopping.set()
        with ctx.lock:
            held = list(ctx.running.items())
        worker.release(ctx.wb, held, refund=False)  # their threads may still be in a chunk


_QUEUES: dict[tuple[str, str | None], JobQueue] = {}
_QUEUES_LOCK = threading.Lock()


def queue_for(settings: Settings) -> JobQueue:
    """This process's queue for these settings' database (built once)."""
    key = (settings.db_url, settings.redis_url)
    with _QUEUES_LOCK:
        if key not in _QUEUES:
            _QUEUES[key] = JobQueue(settings)
        return _QUEUES[key]


def enqueue(settings: Settings, job_id: int) -> None:
    queue_for(settings).enqueue(job_id)


class _JobConsumer(Consumer):  # type: ignore[misc]
    """huey's thread consumer; stopping it first asks running jobs to stop after their current chunk."""

    def __init__(self, job_queue: JobQueue, workers: int, *, signals: bool) -> None:
        poll = min(1.0, job_queue.settings.job_poll_s)
        super().__init__(job_queue.huey, workers=workers, worker_type="thread", periodic=False,
                         initial_delay=min(0.1, poll), max_delay=poll, shutdown_timeout=SHUTDOWN_GRACE_S,
                         graceful_signal="TERM")  # fmt: skip
        self._queue, self._signals = job_queue, signals

    def stop(self, graceful: bool = False) -> None:
        self._queue.context().stopping.set()
        super().stop(graceful)

    def _set_signal_handlers(self) -> None:
        if self._signals:  # only the main thread may install handlers; the embedded consumer is not there
            super()._set_signal_handlers()


class _Tender(threading.Thread):
    """Every few seconds: re-queue orphaned jobs, wake a worker if eligible work waits."""

    def __init__(self, job_queue: JobQueue) -> None:
        super().__init__(name="jobs-tender", daemon=True)
        self._queue, self.done = job_queue, threading.Event()
        self._every = job_queue.context().stale_after_s / 2

    def run(self) -> None:
        while not self.done.wait(self._every):
            try:
                self._queue.tend()
            except Exception:  # noqa: BLE001 - retried next interval
                log.warning("job queue upkeep failed", exc_info=True)


class EmbeddedConsumer:
    """Worker threads inside this process (the app's default); `stop()` hands running jobs back."""

    def __init__(self, job_queue: JobQueue, workers: int) -> None:
        self.queue, self.workers, self.backend = job_queue, workers, job_queue.backend
        self.running = False
        self._consumer: _JobConsumer | None = None
        self._tender: _Tender | None = None

    def start(self) -> None:
        if self.workers > 0:
            self.queue.context(fresh=True)
            self.queue.tend()  # resume jobs an earlier process left running
            self._consumer = _JobConsumer(self.queue, self.workers, signals=False)
            self._consumer.start()
            self._tender = _Tender(self.queue)
            self._tender.start()
            self.running = True
            log.info("embedded job consumer: %d thread(s) on the %s queue", self.workers, self.backend)

    def stop(self, timeout: float = SHUTDOWN_GRACE_S) -> None:
        """Stop taking jobs; running ones stop at their next chunk (or are handed back after `timeout`)."""
        if not self.running:
            return
        self.running = False
        key = (self.queue.settings.db_url, self.queue.settings.redis_url)
        with _START_LOCK:
            if _EMBEDDED.get(key) is self:
                del _EMBEDDED[key]
        assert self._consumer is not None and self._tender is not None
        self._tender.done.set()
        self._consumer.stop_flag.set()
        ctx = self.queue.context()
        ctx.stopping.set()
        deadline = time.monotonic() + timeout
        for _, thread in self._consumer.worker_threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.queue.stop_jobs()
        ctx.wb.close()


_EMBEDDED: dict[tuple[str, str | None], EmbeddedConsumer] = {}
_START_LOCK = threading.Lock()


def start_embedded(settings: Settings, workers: int | None = None) -> EmbeddedConsumer:
    """The process's consumer for this database, started on first call; no threads in Redis mode by default."""
    key = (settings.db_url, settings.redis_url)
    with _START_LOCK:
        existing = _EMBEDDED.get(key)
        if existing is not None and (existing.running or workers is None):
            return existing
        if workers is None:
            workers = 0 if settings.redis_url else settings.workers
        consumer = _EMBEDDED[key] = EmbeddedConsumer(queue_for(settings), workers)
        consumer.start()
    if consumer.running:
        atexit.register(consumer.stop, 2.0)
    return consumer


def run_worker(settings: Settings, workers: int) -> None:
    """A standalone consumer in the foreground (`python -m core worker`) until SIGINT or SIGTERM."""
    Workbench.open(settings).close()  # migrate once, before any thread touches the database
    job_queue = queue_for(settings)
    job_queue.context(fresh=True)
    job_queue.tend()
    consumer = _JobConsumer(job_queue, workers, signals=True)
    tender = _Tender(job_queue)
    tender.start()
    try:
        consumer.run()
    finally:
        tender.done.set()
        job_queue.stop_jobs()
