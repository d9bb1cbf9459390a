"""The Transcribe page's widgets: staging uploads and recordings, options, the estimate, jobs and results."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import streamlit as st

from core.audio.store import store_upload
from core.billing import quotas
from core.billing.money import format_usd
from core.errors import InputError, WorkbenchError
from core.jobs import api as jobs
from core.jobs.api import JobRecord
from core.transcripts import repository as repo
from core.transcripts.export.docs import stamp
from core.transcripts.service import TranscribeOptions, check_options, estimate
from core.transcripts.types import UserRecord
from core.workbench import Workbench
from ui import options as choices
from ui.context import friendly_errors
from ui.text import md
from ui.transcript_view import player_with_segments, reading_view, summary_block

STAGED = "tx_staged"  # session_state: list[Staged] — files on disk waiting for "Transcribe"
JOBS = "tx_jobs"  # session_state: ids of the jobs this session started, newest first
SEEN_ACTIVE = "tx_seen_active"
PROBLEMS = "tx_problems"


@dataclass(frozen=True)
class Staged:
    """One upload or recording, already validated and on disk (or refused, with the reason)."""

    key: str
    name: str
    ok: bool
    reason: str | None = None
    path: str | None = None
    duration_s: float = 0.0
    size: int = 0


def _stage(source: Any, name: str, wb: Workbench) -> Staged:
    try:
        stored = store_upload(source, name, wb.settings)
    except InputError as exc:
        return Staged(uuid.uuid4().hex, name, False, exc.reason)
    except WorkbenchError as exc:
        return Staged(uuid.uuid4().hex, name, False, str(exc))
    return Staged(
        uuid.uuid4().hex, stored.display_name, True, None, str(stored.path), stored.info.duration_s, stored.bytes
    )


def _take(files: list[Any], wb: Workbench, key_name: str) -> None:
    """Write new uploads to disk at once, then drop them from the widget so session memory is freed."""
    staged: list[Staged] = st.session_state.setdefault(STAGED, [])
    for upload in files:
        item = _stage(upload, upload.name, wb)
        if item.ok and any(s.path == item.path for s in staged):
            continue  # the same recording twice: once is enough
        staged.append(item)
    st.session_state[key_name] = st.session_state.get(key_name, 0) + 1  # a new widget key releases the bytes
    st.rerun()


def intake(wb: Workbench) -> None:
    """Upload several files or record one; each is checked and stored before anything runs."""
    upload_tab, record_tab = st.tabs([":material/upload_file: Upload files", ":material/mic: Record"])
    with upload_tab:
        n = st.session_state.get("tx_upload_n", 0)
        files = st.file_uploader(
            "Audio or video files",
            accept_multiple_files=True,
            max_upload_size=wb.settings.max_upload_mb,
            key=f"tx_upload_{n}",
            help="mp3, wav, m4a, ogg, opus, webm, flac, or the sound of an mp4/mov/webm video. "
            f"Up to {wb.settings.max_upload_mb} MB each.",
        )
        if files:
            _take(list(files), wb, "tx_upload_n")
    with record_tab:
        n = st.session_state.get("tx_record_n", 0)
        clip = st.audio_input("Record from your microphone", key=f"tx_record_{n}")
        if clip is not None:
            clip.name = f"Recording {datetime.now():%Y-%m-%d %H.%M.%S}.wav"
            _take([clip], wb, "tx_record_n")


def staged_list() -> list[Staged]:
    """The checked files with their verdicts; returns those ready to run."""
    staged: list[Staged] = st.session_state.get(STAGED, [])
    if not staged:
        st.caption(
            "Nothing added yet. Files are checked as soon as they arrive — nothing runs until you press **Transcribe**."
        )
        return []
    for item in list(staged):
        with st.container(border=True):
            left, right = st.columns([6, 1], vertical_alignment="center")
            if item.ok:
                left.markdown(
                    f":material/check_circle: **{md(item.name)}**  \n"
                    f":gray[Ready · {stamp(item.duration_s)} · {item.size / 1e6:.1f} MB]"
                )
            else:
                left.markdown(f":material/block: **{md(item.name)}**  \n:red[Refused: {md(item.reason or '')}]")
            if right.button("", icon=":material/close:", key=f"tx_drop_{item.key}", help="Remove from the list"):
                staged.remove(item)
                st.rerun()
    return [s for s in staged if s.ok]


def options_form(wb: Workbench) -> TranscribeOptions:
    """Provider (the mock switch is visible and labelled), model, language, vocabulary, summary."""
    settings = wb.settings
    mock = st.toggle(
        "Demo mode (mock provider)",
        value=settings.default_provider == "mock",
        key="tx_mock",
        help="Produces made-up sentences instantly and for free — for trying the app, not for real work.",
    )
    if mock:
        provider = "mock"
        st.caption(":orange[:material/science: " + choices.PROVIDER_LABELS["mock"] + "]")
    else:
        real = choices.real_providers(settings)
        default = settings.default_provider if settings.default_provider in real else real[0]
        provider = st.radio(
            "Provider",
            real,
            index=real.index(default),
            key="tx_provider",
            format_func=choices.PROVIDER_LABELS.__getitem__,
        )
        if not settings.openai_api_key:
            st.caption("OpenAI appears here once an administrator sets an API key.")
    models = choices.transcribe_models(provider, settings)
    model = (
        st.selectbox("Model", models, key=f"tx_model_{provider}", format_func=choices.model_label) if models else None
    )
    if choices.english_only(model):
        st.caption("This model understands English only.")
        language = "en"
    else:
        language = st.selectbox(
            "Language", list(choices.LANGUAGES), key="tx_language", format_func=choices.LANGUAGES.__getitem__
        )
    prompt = st.text_area(
        "Vocabulary or context (optional)",
        key="tx_prompt",
        max_chars=1000,
        disabled=not choices.takes_prompt(model),
        placeholder="Names, product words, acronyms: Anna Schmidt, Kubernetes, OKR…",
        help="Helps the model spell unusual words. Not every model uses it.",
    )
    summarize = st.checkbox(
        "Write a summary",
        key="tx_summarize",
        value=False,
        help="Afterwards, a short summary: " + choices.SUMMARY_LABELS.get(provider, "by a language model"),
    )
    extra = {"diarize": True} if choices.diarizes(model) else {}
    return TranscribeOptions(
        provider=provider, model=model, language=language, prompt=prompt or None, summarize=summarize, extra=extra
    )


def estimate_box(wb: Workbench, user: UserRecord, ready: list[Staged], opts: TranscribeOptions) -> bool:
    """The expected cost of the ready files and the user's budget left; False when the budget would not cover it."""
    seconds = sum(s.duration_s for s in ready)
    cost = 0.0
    with friendly_errors("Estimating the cost"):
        cost = sum(estimate(wb, s.duration_s, opts.provider, opts.model) for s in ready)
    budget = quotas.budget_status(wb, user)
    left, right = st.columns(2)
    left.metric(
        "Estimated cost", "Free" if cost == 0 else f"${cost:,.4f}", help=f"{len(ready)} file(s), {stamp(seconds)}"
    )
    remaining = budget.remaining_usd
    right.metric(
        "Budget left",
        "No limit" if remaining is None else format_usd(remaining),
        help=f"This month you have spent {format_usd(budget.user.spent_usd)}. "
        "The tighter of your own and the team's monthly budget counts.",
    )
    if budget.remaining_minutes is not None:
        st.caption(f"Audio minutes left this month: {budget.remaining_minutes:,.1f}")
    refusal = budget.refusal(cost, seconds / 60, "This batch") if ready else None
    if refusal:
        st.warning(
            md(refusal.replace(" Nothing was sent or charged.", ""))
            + " Remove some files, pick a cheaper model, or ask an administrator to raise the limit.",
            icon=":material/savings:",
        )
        return False
    return True


def submit(wb: Workbench, user: UserRecord, ready: list[Staged], opts: TranscribeOptions) -> None:
    """Queue one job per ready file; refusals are shown and the rest still run."""
    problems: list[str] = st.session_state.setdefault(PROBLEMS, [])
    try:
        opts = check_options(opts)
    except InputError as exc:
        problems.append(str(exc))
        return
    started: list[int] = st.session_state.setdefault(JOBS, [])
    staged: list[Staged] = st.session_state.get(STAGED, [])
    for item in ready:
        try:
            job = jobs.submit_transcription(wb, Path(item.path or ""), item.name, user, opts)
        except WorkbenchError as exc:
            problems.append(str(exc))
            continue
        started.insert(0, job.id)
        staged.remove(item)


def problems() -> None:
    """What could not be started by the last press of Transcribe, shown once."""
    for message in st.session_state.pop(PROBLEMS, []):
        st.error(md(message), icon=":material/error:")


def _session_jobs(wb: Workbench, user: UserRecord) -> list[JobRecord]:
    ids = set(st.session_state.get(JOBS, []))
    if not ids:
        return []
    return [j for j in jobs.list_jobs(wb, user, limit=max(50, len(ids))) if j.id in ids]


def _status_line(job: JobRecord) -> str:
    if job.state == "queued":
        place = f" — number {job.queue_position} in line" if job.queue_position else ""
        return f"Waiting to start{place}"
    if job.cancel_requested:
        return "Stopping after the current part…"
    return (job.stage or "Starting").capitalize()


def _active_job(wb: Workbench, user: UserRecord, job: JobRecord) -> None:
    with st.container(border=True):
        top, button = st.columns([6, 1], vertical_alignment="center")
        top.markdown(f":material/progress_activity: **{md(job.display_name or 'Recording')}**")
        if button.button("Cancel", key=f"tx_cancel_{job.id}", disabled=job.cancel_requested):
            with friendly_errors("Cancelling"):
                jobs.cancel_job(wb, job.id, user)
        st.progress(job.progress, text=_status_line(job))
        if job.partial_text:
            st.caption("Text so far")
            st.text(job.partial_text[-1500:])


def _finished_job(wb: Workbench, user: UserRecord, job: JobRecord) -> None:
    name = md(job.display_name or "Recording")
    if job.state == "done":
        return  # shown with its result below
    with st.container(border=True):
        text, button = st.columns([6, 1], vertical_alignment="center")
        icon = ":material/error:" if job.state == "failed" else ":material/cancel:"
        text.markdown(
            f"{icon} **{name}** — {'failed' if job.state == 'failed' else 'cancelled'}  \n:gray[{md(job.error or '')}]"
        )
        if button.button("Retry", key=f"tx_retry_{job.id}", icon=":material/refresh:"):
            with friendly_errors("Retrying"):
                jobs.retry_job(wb, job.id, user)
                st.rerun()


def progress_panel(wb: Workbench, user: UserRecord) -> None:
    """Live progress of this session's jobs, refreshed by a fragment while any is queued or running."""
    active_now = any(j.active for j in _session_jobs(wb, user))
    interval = wb.settings.job_poll_s if active_now else None

    @st.fragment(run_every=interval)
    def panel() -> None:
        current = _session_jobs(wb, user)
        active_ids = {j.id for j in current if j.active}
        finished = st.session_state.get(SEEN_ACTIVE, set()) - active_ids
        st.session_state[SEEN_ACTIVE] = active_ids
        if finished:
            st.rerun(scope="app")  # something finished: redraw the whole page so its result shows
        for job in current:
            if job.active:
                _active_job(wb, user, job)
            else:
                _finished_job(wb, user, job)

    panel()


def results(wb: Workbench, user: UserRecord) -> None:
    """The finished transcripts of this session, newest first."""
    finished = [j for j in _session_jobs(wb, user) if j.state == "done" and j.transcript_id]
    if not finished:
        return
    title, clear = st.columns([5, 1], vertical_alignment="bottom")
    title.markdown("##### Results")
    if clear.button(
        "Clear",
        icon=":material/clear_all:",
        key="tx_clear",
        type="tertiary",
        help="Hide these results here; they stay in the Library.",
    ):
        done_ids = {j.id for j in finished}
        st.session_state[JOBS] = [i for i in st.session_state.get(JOBS, []) if i not in done_ids]
        st.rerun()
    shown: set[int] = set()
    for job in finished:
        if job.state != "done" or not job.transcript_id or job.transcript_id in shown:
            continue  # the same transcript again (a cache hit) shows once, with its newest job
        shown.add(job.transcript_id)
        try:
            record = repo.get_transcript(wb.Session, job.transcript_id or 0, user, audio_dir=str(wb.settings.audio_dir))
        except WorkbenchError:
            continue  # deleted meanwhile
        with st.container(border=True):
            st.subheader(md(record.display_name), anchor=False)
            facts = [
                stamp(record.duration_s),
                record.language or "language not detected",
                f"{record.provider} · {record.model}",
            ]
            st.caption(" · ".join(md(f) for f in facts))
            if job.cached:
                st.badge("Reused from cache — $0", icon=":material/bolt:", color="green")
            elif job.cost_usd:
                st.badge(f"Cost ${job.cost_usd:,.4f}", icon=":material/payments:", color="blue")
            else:
                st.badge("Free", icon=":material/payments:", color="gray")
            summary_block(record)
            player_with_segments(record, key=f"tx_result_{job.id}")
            reading_view(record)
            st.page_link(
                "pages/library.py",
                label="Open in Library to edit, export or share",
                icon=":material/library_books:",
                query_params={"id": str(record.id)},
            )
