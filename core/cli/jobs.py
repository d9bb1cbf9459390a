"""`python -m core jobs ...` and `python -m core worker`: watch, cancel and retry jobs; run a consumer."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime
from typing import Any

from core.cli.user import acting_user
from core.config import load_settings
from core.jobs import api as jobs
from core.jobs.api import JobRecord
from core.workbench import Workbench


def job_dict(job: JobRecord) -> dict[str, Any]:
    """The stable JSON shape of a job for scripts."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat(timespec="seconds") if value is not None else None

    return {
        "id": job.id,
        "owner": job.owner,
        "kind": job.kind,
        "state": job.state,
        "stage": job.stage,
        "progress": round(job.progress, 4),
        "error": job.error,
        "filename": job.display_name,
        "transcript_id": job.transcript_id,
        "chunks_done": job.chunks_done,
        "chunks_total": job.chunks_total,
        "queue_position": job.queue_position,
        "cancel_requested": job.cancel_requested,
        "cached": job.cached,
        "cost_usd": job.cost_usd,
        "created": iso(job.created_at),
        "started": iso(job.started_at),
        "finished": iso(job.finished_at),
    }


def _print_job(job: JobRecord, as_json: bool) -> None:
    if as_json:
        print(json.dumps(job_dict(job), ensure_ascii=False))
        return
    where = f"#{job.queue_position} in queue" if job.queue_position else (job.stage or "")
    print(f"{job.id:>6}  {job.state:<9} {job.progress * 100:>5.1f}%  {job.owner:<12} {where:<16} {job.display_name}")
    if job.error:
        print(f"        {job.error}")


def cmd_jobs(args: argparse.Namespace) -> int:
    wb = Workbench.open(load_settings())
    user = acting_user(wb, args.user)
    action = getattr(args, "action", None)
    if action in ("cancel", "retry"):
        job = (jobs.cancel_job if action == "cancel" else jobs.retry_job)(wb, args.id, user)
        _print_job(job, args.json)
        return 0
    rows = jobs.list_jobs(wb, user, active_only=args.active, limit=args.limit)
    if args.json:
        print(json.dumps([job_dict(j) for j in rows], ensure_ascii=False))
    else:
        for job in rows:
            _print_job(job, False)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from core.jobs.broker import queue_name, run_worker

    settings = load_settings()
    workers = settings.workers if args.workers is None else args.workers
    if settings.redis_url:
        where = "Redis " + settings.redis_url.split("@")[-1].split("://")[-1]  # never the password
    else:
        where = f"SQLite {settings.data_dir / 'huey.db'}"
    logging.getLogger("core").setLevel(logging.INFO)
    print(f"worker: {workers} thread(s) on {where} (queue {queue_name(settings)}); Ctrl-C to stop",
          file=sys.stderr, flush=True)  # fmt: skip
    run_worker(settings, workers)
    return 0


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return int(value)


def add_job_commands(sub: Any) -> None:
    """Register `jobs` (list / cancel / retry) and `worker` on the main parser's subcommands."""
    j = sub.add_parser("jobs", help="list background jobs, or cancel / retry one")
    j.add_argument("--user", help="act as this user (admins see every job)")
    j.add_argument("--json", action="store_true")
    j.add_argument("--active", action="store_true", help="only queued and running jobs")
    j.add_argument("--limit", type=int, default=50)
    j.set_defaults(func=cmd_jobs)
    actions = j.add_subparsers(dest="action")
    for name, text in (("cancel", "stop a job after its current chunk"), ("retry", "re-queue a failed job")):
        a = actions.add_parser(name, help=text)
        a.add_argument("id", type=int)
        # SUPPRESS: an option given before the action must not be reset by the action's default.
        a.add_argument("--user", default=argparse.SUPPRESS)
        a.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
        a.set_defaults(func=cmd_jobs)

    w = sub.add_parser("worker", help="run jobs in this process until Ctrl-C (use with WORKBENCH_REDIS_URL)")
    w.add_argument("--workers", type=_positive, help="threads (default WORKBENCH_WORKERS)")
    w.set_defaults(func=cmd_worker)
