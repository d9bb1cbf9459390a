"""The cache: same audio + same output-changing options → stored transcript, no provider call, $0."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from core.db.models import UsageEvent
from core.providers.mock import MockProvider
from core.transcripts.cache import cache_key
from core.transcripts.service import TranscribeOptions, transcribe_file
from tests.conftest import FIXTURES

SPEECH = FIXTURES / "fmt_speech.mp3"


def _events(wb):
    with wb.Session() as s:
        return list(s.scalars(select(UsageEvent).order_by(UsageEvent.id)))


def test_second_run_is_a_cache_hit_with_no_call(wb, alice, mock_provider: MockProvider):
    first = transcribe_file(wb, SPEECH, "a.mp3", alice, provider=mock_provider)
    second = transcribe_file(wb, SPEECH, "a.mp3", alice, provider=mock_provider)

    assert not first.cached and second.cached
    assert len(mock_provider.history) == 1
    assert second.transcript.id == first.transcript.id
    assert second.transcript.text == first.transcript.text
    assert second.cost_usd == 0.0
    events = _events(wb)
    assert [e.cached for e in events] == [False, True]
    hit = events[1]
    assert hit.cost_usd == 0.0
    assert hit.saved_usd > 0 and abs(hit.saved_usd - events[0].list_cost_usd) < 1e-9


def test_no_cache_forces_a_run(wb, alice, mock_provider):
    transcribe_file(wb, SPEECH, "a.mp3", alice, provider=mock_provider)
    again = transcribe_file(wb, SPEECH, "a.mp3", alice, TranscribeOptions(use_cache=False), provider=mock_provider)
    assert not again.cached
    assert len(mock_provider.history) == 2


def test_options_that_change_output_split_the_cache(wb, alice, mock_provider):
    transcribe_file(wb, SPEECH, "a.mp3", alice, provider=mock_provider)
    for opts in (
        TranscribeOptions(language="de"),
        TranscribeOptions(prompt="Kubernetes"),
        TranscribeOptions(model="mock-2"),
        TranscribeOptions(extra={"diarize": True}),
    ):
        assert not transcribe_file(wb, SPEECH, "a.mp3", alice, opts, provider=mock_provider).cached
    assert len(mock_provider.history) == 5


def test_another_user_reuses_the_result_but_gets_their_own_transcript(wb, alice, bob, mock_provider):
    mine = transcribe_file(wb, SPEECH, "a.mp3", alice, provider=mock_provider)
    theirs = transcribe_file(wb, SPEECH, "b.mp3", bob, provider=mock_provider)
    assert theirs.cached and len(mock_provider.history) == 1
    assert theirs.transcript.id != mine.transcript.id
    assert theirs.transcript.owner == "bob" and theirs.transcript.text == mine.transcript.text


def test_key_ignores_options_that_do_not_change_text():
    base = dict(audio_sha256="ab" * 32, provider="openai", model="m", language="en", prompt=None)
    assert cache_key(**base, options={"stream": True}) == cache_key(**base, options={})
    assert cache_key(**base, options={"diarize": True}) != cache_key(**base, options={})
    assert cache_key(**{**base, "language": "EN"}) == cache_key(**base)


def test_mock_is_deterministic_and_spans_the_duration(wb, alice):
    a = transcribe_file(wb, SPEECH, "a.mp3", alice, TranscribeOptions(use_cache=False), provider=MockProvider())
    b = transcribe_file(wb, SPEECH, "a.mp3", alice, TranscribeOptions(use_cache=False), provider=MockProvider())
    assert a.transcript.text == b.transcript.text
    segs = a.transcript.segments
    assert segs[0].start == 0.0 and abs(segs[-1].end - a.transcript.duration_s) < 0.01
    assert all(0 < s.confidence <= 1 for s in segs)
    mock_event = _events(wb)[0]
    assert mock_event.cost_usd == 0.0 and mock_event.list_cost_usd > 0


def test_refused_file_stores_nothing(wb, alice, mock_provider):
    import pytest

    from core.errors import InputError

    with pytest.raises(InputError):
        transcribe_file(wb, FIXTURES / "bad_pdf.mp3", "report.mp3", alice, provider=mock_provider)
    assert not mock_provider.history
    assert _events(wb) == []
    assert list(wb.settings.audio_dir.iterdir()) == []


def test_summary_is_stored_and_reused_on_a_hit(wb, alice, mock_provider):
    first = transcribe_file(wb, SPEECH, "a.mp3", alice, TranscribeOptions(summarize=True), provider=mock_provider)
    assert first.transcript.summary
    second = transcribe_file(wb, SPEECH, "a.mp3", alice, TranscribeOptions(summarize=True), provider=mock_provider)
    assert second.cached and second.transcript.summary == first.transcript.summary
    assert len(mock_provider.summaries) == 1


def test_a_summary_added_on_a_cache_hit_is_part_of_this_runs_cost(wb, alice):
    """cost_usd is the sum of this run's billed calls, including a summary written on a cache hit."""
    from core.providers.base import CallRecord, SummaryResult

    class PricedSummaries(MockProvider):
        def summarize(self, text, *, model=None, on_call=lambda _c: None):
            on_call(CallRecord("summarize", "priced-chat", input_tokens=10, output_tokens=5, cost_usd=0.25))
            return SummaryResult("A short summary.", "priced-chat")

    provider = PricedSummaries()
    transcribe_file(wb, SPEECH, "a.mp3", alice, provider=provider)
    hit = transcribe_file(wb, SPEECH, "a.mp3", alice, TranscribeOptions(summarize=True), provider=provider)
    assert hit.cached and hit.transcript.summary == "A short summary."
    assert hit.cost_usd == 0.25
    fresh = transcribe_file(
        wb, SPEECH, "a.mp3", alice, TranscribeOptions(summarize=True, use_cache=False), provider=provider
    )
    assert not fresh.cached and fresh.cost_usd == 0.25  # the mock transcription charges $0, the summary $0.25


class _BuggyProvider(MockProvider):
    def transcribe(self, request):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'NoneType'")


def test_an_unexpected_error_on_the_paid_path_is_logged_with_its_traceback(wb, alice, caplog):
    with caplog.at_level(logging.ERROR), pytest.raises(TypeError):
        transcribe_file(wb, SPEECH, "a.mp3", alice, provider=_BuggyProvider())
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1 and isinstance(logged[0].exc_info[1], TypeError)
    assert logged[0].name == "core.transcripts.service" and "a.mp3" in logged[0].getMessage()
    assert "Traceback" in caplog.text
    assert _events(wb) == []  # nothing billed, nothing stored


def test_a_registered_plugin_is_chosen_by_name_like_a_built_in(wb, alice, monkeypatch):
    from core.providers import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    built = MockProvider()
    registry.register("plugged", lambda _settings: built, registry.Capabilities(stream=True))
    outcome = transcribe_file(wb, SPEECH, "a.mp3", alice, TranscribeOptions(provider="plugged"))
    assert len(built.history) == 1 and outcome.transcript.text
    assert registry.capabilities("plugged").stream and not registry.capabilities("nobody").charged
    assert registry.PROVIDERS == ("mock", "local", "openai")
    assert registry.capabilities("openai").fallback == "local" and not registry.capabilities("local").charged
