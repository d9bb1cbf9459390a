"""`python -m core`: the command-line contract scripts rely on (keys and exit codes are stable)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from core.cli.admin import add_admin_commands
from core.cli.jobs import add_job_commands
from core.cli.user import acting_user
from core.config import load_settings
from core.errors import InputError, WorkbenchError
from core.jobs.api import submit_transcription
from core.providers.registry import PROVIDERS
from core.text import format_clock
from core.transcripts import library
from core.transcripts.export.text import TEXT_FORMATS, render, to_json
from core.transcripts.service import TranscribeOptions, transcribe_file
from core.transcripts.types import SNIPPET_CLOSE, SNIPPET_OPEN
from core.workbench import Workbench

EXIT_OK, EXIT_UNEXPECTED, EXIT_INPUT = 0, 1, 2
# When several files fail differently, the most serious failure decides the exit code.
_SEVERITY = {1: 5, 3: 4, 4: 3, 5: 2, 2: 1, 0: 0}


def _worst(a: int, b: int) -> int:
    return a if _SEVERITY.get(a, 5) >= _SEVERITY.get(b, 5) else b


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _open() -> Workbench:
    return Workbench.open(load_settings())


def cmd_transcribe(args: argparse.Namespace) -> int:
    wb = _open()
    user = acting_user(wb, args.user)
    opts = TranscribeOptions(
        provider=args.provider,
        model=args.model,
        language=args.language,
        prompt=args.prompt,
        summarize=args.summarize,
        use_cache=not args.no_cache,
    )
    code = EXIT_OK
    many = len(args.paths) > 1
    for raw in args.paths:
        path = Path(raw)
        try:
            if not path.is_file():
                raise InputError(
                    "no such file" if not path.exists() else "not a regular file", filename=path.name or raw
                )
            if args.background:  # validate + store now, run in a worker: prints {"job": ID} and moves on
                job = submit_transcription(wb, path, path.name, user, opts)
                print(json.dumps({"job": job.id}), flush=True)
                continue
            outcome = transcribe_file(wb, path, path.name, user, opts)
        except WorkbenchError as exc:
            _err(str(exc))
            code = _worst(code, exc.exit_code)
            continue
        for notice in outcome.notices:
            _err(f"note: {notice}")
        rec = outcome.transcript
        if args.format == "json":
            print(to_json(rec, cost_usd=outcome.cost_usd, cached=outcome.cached))
        else:
            if many:
                print(f"==> {rec.display_name} <==")
            print(render(rec, args.format), end="")
            if args.summarize and rec.summary and args.format == "txt":
                print(f"\nSummary:\n{rec.summary}")
        sys.stdout.flush()
        if outcome.summary_refused is not None:  # after the transcript, which was paid for
            _err(f"{path.name}: the summary was not written: {outcome.summary_refused}")
            code = _worst(code, outcome.summary_refused.exit_code)
    return code


def cmd_usage(args: argparse.Namespace) -> int:
    from core.billing.analytics import Analytics, UsageFilter

    wb = _open()
    filters = UsageFilter(start=args.since, end=None, user=args.user, include_demo=args.include_demo)
    summary = Analytics(wb.settings).summary(filters)
    if args.json:
        print(json.dumps(summary, default=str))
        return EXIT_OK
    print(f"calls        {summary['calls']}")
    print(f"cost         ${summary['cost_usd']:.4f}")
    print(f"audio        {summary['audio_seconds'] / 60:.1f} min")
    print(f"cache hits   {summary['cache_hits']} (saved ${summary['saved_usd']:.4f})")
    for model, row in sorted(summary["by_model"].items()):
        print(f"  {model:<28} {row['calls']:>8} calls  ${row['cost_usd']:.4f}")
    return EXIT_OK


def cmd_transcripts_list(args: argparse.Namespace) -> int:
    wb = _open()
    user = acting_user(wb, args.user)
    rows = library.list_transcripts(wb, user)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "filename": r.display_name,
                        "owner": r.owner,
                        "provider": r.provider,
                        "model": r.model,
                        "language": r.language,
                        "duration_s": round(r.duration_s, 3),
                        "revision": r.revision,
                        "created": r.created_at.isoformat(timespec="seconds"),
                    }
                    for r in rows
                ],
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    for r in rows:
        print(f"{r.id:>6}  {r.created_at:%Y-%m-%d %H:%M}  {r.owner:<12} {r.provider:<7} {r.display_name}")
    return EXIT_OK


def cmd_transcripts_search(args: argparse.Namespace) -> int:
    wb = _open()
    user = acting_user(wb, args.user)
    for hit in library.search_transcripts(wb, user, args.query):
        start_s = library.hit_start_s(library.open_transcript(wb, hit.transcript_id, user), hit)
        snippet = hit.snippet.replace(SNIPPET_OPEN, "").replace(SNIPPET_CLOSE, "")
        if args.json:
            row = {"id": hit.transcript_id, "filename": hit.display_name, "snippet": snippet, "start_s": start_s}
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(f"{hit.transcript_id:>6}  {format_clock(start_s):>8}  {hit.display_name}: {snippet}")
    return EXIT_OK


def cmd_transcripts_delete(args: argparse.Namespace) -> int:
    wb = _open()
    user = acting_user(wb, args.user)
    library.delete_transcript(wb, args.id, user)  # NotFoundError (exit 5) when missing or not permitted
    return EXIT_OK


def cmd_transcripts_show(args: argparse.Namespace) -> int:
    wb = _open()
    user = acting_user(wb, args.user)
    rec = library.open_transcript(wb, args.id, user)
    print(render(rec, args.format), end="" if args.format != "json" else "\n")
    return EXIT_OK


def cmd_seed_demo(args: argparse.Namespace) -> int:
    import time

    from core.ops.demo import seed_demo

    settings = load_settings()
    started = time.perf_counter()
    counts = seed_demo(settings, events=args.events)
    print(json.dumps({**counts, "seconds": round(time.perf_counter() - started, 2)}))
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from core.ops.doctor import run_checks

    checks = run_checks(load_settings(), online=not args.offline)
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{'ok  ' if c.ok else 'FAIL'}  {c.name:<{width}}  {c.detail}")
    return EXIT_OK if all(c.ok or not c.required for c in checks) else EXIT_UNEXPECTED


def cmd_migrate(_args: argparse.Namespace) -> int:
    from core.identity.auth import ensure_admin

    settings = load_settings()
    wb = Workbench.open(settings)
    print(f"database at head: {settings.db_url.split('///')[-1]}")
    generated = ensure_admin(wb)  # `make run` migrates first, so a first start shows the password here
    if generated:
        print(f"First start: created user 'admin' with password {generated} — sign in and change it.")
    return EXIT_OK


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-24") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description="Transcription Workbench command line")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("transcribe", help="transcribe audio files")
    t.add_argument("paths", nargs="+", metavar="PATH")
    t.add_argument("--provider", choices=PROVIDERS)
    t.add_argument("--model")
    t.add_argument("--language", help="ISO 639-1 code, or auto")
    t.add_argument("--prompt", help="vocabulary / context for the model")
    t.add_argument("--summarize", action="store_true")
    t.add_argument("--user")
    t.add_argument("--format", choices=TEXT_FORMATS, default="txt")
    t.add_argument("--no-cache", action="store_true")
    t.add_argument("--background", action="store_true", help='queue as jobs; print {"job": ID} per file')
    t.set_defaults(func=cmd_transcribe)

    u = sub.add_parser("usage", help="spend and usage totals")
    u.add_argument("--since", type=_date)
    u.add_argument("--user")
    u.add_argument("--json", action="store_true")
    u.add_argument("--include-demo", action="store_true", help="count synthetic demo rows too (never by default)")
    u.set_defaults(func=cmd_usage)

    tr = sub.add_parser("transcripts", help="list or show stored transcripts")
    trs = tr.add_subparsers(dest="action", required=True)
    tl = trs.add_parser("list")
    tl.add_argument("--user")
    tl.add_argument("--json", action="store_true")
    tl.set_defaults(func=cmd_transcripts_list)
    ts = trs.add_parser("show")
    ts.add_argument("id", type=int)
    ts.add_argument("--user")
    ts.add_argument("--format", choices=TEXT_FORMATS, default="txt")
    ts.set_defaults(func=cmd_transcripts_show)
    tq = trs.add_parser("search", help="full-text search over the transcripts you may see")
    tq.add_argument("query")
    tq.add_argument("--user")
    tq.add_argument("--json", action="store_true", help="one JSON object per hit")
    tq.set_defaults(func=cmd_transcripts_search)
    td = trs.add_parser("delete", help="delete a transcript with its revisions, cached text and unused audio")
    td.add_argument("id", type=int)
    td.add_argument("--user")
    td.set_defaults(func=cmd_transcripts_delete)

    s = sub.add_parser("seed-demo", help="fill the dashboards with synthetic demo data")
    s.add_argument("--events", type=int, default=5000)
    s.set_defaults(func=cmd_seed_demo)

    d = sub.add_parser("doctor", help="check the installation")
    d.add_argument("--offline", action="store_true", help="skip the API key check call")
    d.set_defaults(func=cmd_doctor)

    m = sub.add_parser("migrate", help="bring the database schema to the newest version")
    m.set_defaults(func=cmd_migrate)

    add_job_commands(sub)
    add_admin_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        _setup_logging(args.command)
        return func(args)
    except WorkbenchError as exc:
        _err(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback for users
        if args.debug:
            raise
        _err(f"unexpected error: {type(exc).__name__}: {_first_line(exc)} (run with --debug for details)")
        return EXIT_UNEXPECTED


def _setup_logging(command: str) -> None:
    """JSON log lines with secrets redacted; one-shot commands log only warnings so stderr stays for errors."""
    from core.log import configure_logging

    configure_logging(load_settings())
    if command != "worker":
        logging.getLogger().setLevel(logging.WARNING)


def _first_line(exc: Any) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else ""
