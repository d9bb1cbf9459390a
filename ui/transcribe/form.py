"""The options form, the cost estimate against the budget, and submitting one job per ready file."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.billing import quotas
from core.billing.money import format_usd
from core.errors import InputError, WorkbenchError
from core.identity.types import UserRecord
from core.jobs import api as jobs
from core.text import format_clock
from core.transcripts.service import TranscribeOptions, check_options, estimate
from core.workbench import Workbench
from ui import options as choices
from ui.context import friendly_errors
from ui.text import md
from ui.transcribe.state import JOBS, PROBLEMS, STAGED, Staged


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
        cost = sum(estimate(wb, s.duration_s, opts.provider, opts.model, opts.prompt) for s in ready)
    budget = quotas.budget_status(wb, user)
    left, right = st.columns(2)
    left.metric(
        "Estimated cost",
        "Free" if cost == 0 else f"${cost:,.4f}",
        help=f"{len(ready)} file(s), {format_clock(seconds)}",
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
        over_money = remaining is not None and cost > remaining
        advice = (
            " Remove some files, pick a cheaper model, or ask an administrator to raise the limit."
            if over_money  # a minutes limit is the same for every model: no model is "cheaper" there
            else " Remove some files, or ask an administrator to raise the limit."
        )
        st.warning(md(refusal.replace(" Nothing was sent or charged.", "")) + advice, icon=":material/savings:")
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
