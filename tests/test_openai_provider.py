"""The OpenAI provider against the fake server over real HTTP: faults, retries, seams, ledger, breaker."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import openai
import pytest

from core.config import Settings
from core.errors import Cancelled, InputError, ProviderError, ProviderUnavailable
from core.providers.base import CallRecord, ChunkProgress, TranscriptionRequest
from core.providers.key_check import check_key, fallback_notice
from core.providers.openai.provider import OpenAIProvider
from core.providers.resilience import CircuitBreaker, RetryPolicy
from tests.fake_openai import FakeOpenAI, Fault, write_tone_speech

KEY = "sk-test-0123456789-secret"
FAST = RetryPolicy(total_s=30, max_attempts=4, initial_s=0.01, max_backoff_s=0.05)


@dataclass
class Audio:
    short: Path
    short_words: list[str]
    long: Path
    long_words: list[str]


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> Audio:
    folder = tmp_path_factory.mktemp("audio")
    short, long = folder / "short.wav", folder / "long.wav"
    short_words = [w.text for w in write_tone_speech(short, 8, seed=1)]
    long_words = [w.text for w in write_tone_speech(long, 64, seed=2)]
    return Audio(short, short_words, long, long_words)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as server:
        yield server


def settings_for(fake: FakeOpenAI, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "openai_api_key": KEY,
        "openai_base_url": fake.base_url,
        "data_dir": tmp_path,
        "request_timeout_s": 20.0,
        "openai_concurrency": 4,
    } | overrides
    return Settings(**values)


def provider_for(
    fake: FakeOpenAI, tmp_path: Path, *, tuning: dict[str, Any] | None = None, **overrides: Any
) -> OpenAIProvider:
    settings = settings_for(fake, tmp_path, **overrides)
    options: dict[str, Any] = {"policy": FAST, "breaker": CircuitBreaker("fake", failures=50)} | (tuning or {})
    return OpenAIProvider.from_settings(settings, **options)


@dataclass
class Run:
    request: TranscriptionRequest
    calls: list[CallRecord]
    progress: list[ChunkProgress]


def run_for(path: Path, model: str | None = None, **fields: Any) -> Run:
    calls: list[CallRecord] = []
    progress: list[ChunkProgress] = []
    request = TranscriptionRequest(
        audio_path=path,
        sha256="x",
        duration_s=0.0,
        model=model,
        on_call=calls.append,
        on_progress=progress.append,
        **fields,
    )
    return Run(request, calls, progress)


def words(text: str) -> list[str]:
    return [w.strip(".,").lower() for w in text.split()]


class DictStore:
    def __init__(self) -> None:
        self.data: dict[tuple[str, int], dict[str, Any]] = {}

    def get(self, job_key: str, index: int) -> dict[str, Any] | None:
        return self.data.get((job_key, index))

    def put(self, job_key: str, index: int, result: dict[str, Any]) -> None:
        self.data[(job_key, index)] = result


# ---- success and faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["gpt-transcribe", "gpt-4o-transcribe", "whisper-1", "gpt-4o-transcribe-diarize"])
def test_each_model_transcribes_and_is_priced(fake: FakeOpenAI, tmp_path: Path, audio: Audio, model: str) -> None:
    run = run_for(audio.short, model)
    result = provider_for(fake, tmp_path).transcribe(run.request)
    assert words(result.text) == audio.short_words
    assert result.model == model and result.duration_s == pytest.approx(8, abs=0.1)
    (call,) = run.calls
    assert call.status == "ok" and call.cost_usd > 0 and not call.estimated and call.request_id
    sent = fake.paths()[0].fields
    assert (
        sent["response_format"]
        == {
            "gpt-transcribe": "json",
            "gpt-4o-transcribe": "json",
            "whisper-1": "verbose_json",
            "gpt-4o-transcribe-diarize": "diarized_json",
        }[model]
    )
    if model == "whisper-1":
        assert sent["timestamp_granularities[]"] == ["word", "segment"]
        assert all(s.words for s in result.segments)
    if model == "gpt-4o-transcribe":
        assert sent["include[]"] == ["logprobs"] and result.segments[0].confidence == pytest.approx(0.951, abs=1e-3)
    if model == "gpt-4o-transcribe-diarize":
        assert sent["chunking_strategy"] == "auto" and {s.speaker for s in result.segments} == {"A", "B"}


def test_language_keywords_and_prompt_are_sent_where_the_model_takes_them(
    fake: FakeOpenAI, tmp_path: Path, audio: Audio
) -> None:
    provider = provider_for(fake, tmp_path)
    provider.transcribe(
        run_for(
            audio.short, "gpt-transcribe", language="de", prompt="Kilo, Lima", options={"keywords": ["Kilo"]}
        ).request
    )
    provider.transcribe(run_for(audio.short, "whisper-1", language="de", options={"keywords": ["x"]}).request)
    first, second = (r.fields for r in fake.paths())
    assert first["languages[]"] == ["de"] and first["keywords[]"] == ["Kilo"] and first["prompt"] == "Kilo, Lima"
    assert second["language"] == "de" and "keywords[]" not in second


TRANSIENT = {
    "429 with retry-after": Fault.rate_limited(retry_after_ms=30),
    "500": Fault.server_error(500),
    "503": Fault.server_error(503),
    "connection reset": Fault.reset(),
    "malformed json": Fault.malformed(),
    "slower than the timeout": Fault.slow(5.0),
}


@pytest.mark.parametrize("fault", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_transient_fault_is_retried_once(fake: FakeOpenAI, tmp_path: Path, audio: Audio, fault: Fault) -> None:
    fake.fail_next(fault)
    run = run_for(audio.short)
    timeout = 2.0 if fault.kind == "slow" else 20.0  # generous elsewhere: a loaded CI box must not time out
    result = provider_for(fake, tmp_path, request_timeout_s=timeout).transcribe(run.request)
    assert words(result.text) == audio.short_words
    assert len(fake.paths()) == 2  # the fault, then one retry: no second retry layer
    failed, ok = run.calls
    assert (failed.status, failed.cost_usd, ok.status) == ("error", 0.0, "ok") and failed.error
    ((_, usage),) = fake.usage  # only the answered attempt was billed
    assert ok.cost_usd == pytest.approx(usage["seconds"] / 60 * 0.0045)


def test_retry_after_is_waited(fake: FakeOpenAI, tmp_path: Path, audio: Audio) -> None:
    slept: list[float] = []
    fake.fail_next(Fault.rate_limited(retry_after_ms=400))
    provider = provider_for(fake, tmp_path, tuning={"sleep": slept.append})
    provider.transcribe(run_for(audio.short).request)
    assert len(slept) == 1 and 0.4 <= slept[0] <= 0.45


PERMANENT = {
    "401": (Fault.unauthorized(), "refused the API key"),
    "insufficient quota": (Fault.insufficient_quota(), "no credit left"),
    "400": (Fault("status", 400, "invalid_value"), "refused the request"),
    "404": (Fault("status", 404, "model_not_found"), "does not know this model"),
    "422": (Fault("status", 422), "refused the request"),
}


@pytest.mark.parametrize(("fault", "sentence"), PERMANENT.values(), ids=PERMANENT.keys())
def test_permanent_fault_fails_fast(
    fake: FakeOpenAI, tmp_path: Path, audio: Audio, fault: Fault, sentence: str
) -> None:
    fake.fail_next(fault)
    run = run_for(audio.short)
    with pytest.raises(ProviderError, match=sentence) as info:
        provider_for(fake, tmp_path).transcribe(run.request)
    assert len(fake.paths()) == 1
    assert not info.value.retryable and info.value.status_code == fault.status
    assert info.value.request_id and "request id req_fake_" in str(info.value)
    assert [c.status for c in run.calls] == ["error"] and run.calls[0].cost_usd == 0
    assert KEY not in str(info.value) and "sk-test" not in str(info.value)


def test_the_key_never_reaches_an_error_sentence(fake: FakeOpenAI, tmp_path: Path, audio: Audio) -> None:
    fake.fail_next(Fault("status", 400, "invalid_value", message=f"Bad header Authorization: Bearer {KEY} here"))
    run = run_for(audio.short)
    with pytest.raises(ProviderError, match=r"refused the request: Bad header Authorization: Bearer \[redacted\]"):
        provider_for(fake, tmp_path).transcribe(run.request)
    assert all(KEY not in (c.error or "") for c in run.calls)


def test_retries_stop_at_the_policy_bound(fake: FakeOpenAI, tmp_path: Path, audio: Audio) -> None:
    fake.fail_next(*[Fault.server_error(500)] * 10)
    run = run_for(audio.short)
    with pytest.raises(ProviderError, match="internal error") as info:
        provider_for(fake, tmp_path).transcribe(run.request)
    assert info.value.retryable
    assert len(fake.paths()) == FAST.max_attempts == len(run.calls)
    assert all(c.status == "error" and c.cost_usd == 0 for c in run.calls)


def test_upload_and_duration_limits_are_enforced_by_the_server(fake: FakeOpenAI, tmp_path: Path, audio: Audio) -> None:
    client = openai.OpenAI(api_key=KEY, base_url=fake.base_url, max_retries=0)
    with pytest.raises(openai.APIStatusError) as too_big:
        client.audio.transcriptions.create(file=("big.ogg", b"0" * (25 * 1024 * 1024 + 1)), model="whisper-1")
    assert too_big.value.status_code == 413
    with pytest.raises(openai.BadRequestError, match="not compatible"):
        client.audio.transcriptions.create(file=audio.short, model="gpt-4o-transcribe", response_format="verbose_json")
    client.close()
    with FakeOpenAI(api_key=KEY, duration_limits={"gpt-4o-transcribe": 5.0}) as strict:
        with pytest.raises(ProviderError, match="longer than 5 seconds"):
            provider_for(strict, tmp_path).transcribe(run_for(audio.short, "gpt-4o-transcribe").request)
        assert len(strict.paths()) == 1


def test_a_format_the_model_refuses_is_caught_before_sending(fake: FakeOpenAI, tmp_path: Path, audio: Audio) -> None:
    run = run_for(audio.short, "gpt-4o-transcribe", options={"response_format": "verbose_json"})
    with pytest.raises(InputError, match="answers only in json"):
        provider_for(fake, tmp_path).transcribe(run.request)
    assert fake.requests == []


# ---- long audio -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["gpt-transcribe", "whisper-1", "gpt-4o-mini-transcribe"])
def test_long_audio_seams_lose_and_repeat_nothing(fake: FakeOpenAI, tmp_path: Path, audio: Audio, model: str) -> None:
    run = run_for(audio.long, model)
    result = provider_for(fake, tmp_path, tuning={"target_chunk_s": 14.0}).transcribe(run.request)
    chunks = fake.paths()
    assert len(chunks) >= 5 and all(r.audio_seconds <= 14.1 for r in chunks)
    assert sum(r.audio_seconds for r in chunks) > 64  # overlaps were sent...
    assert words(result.text) == audio.long_words  # ...and nothing is lost or repeated at the seams
    assert [p.done for p in run.progress] == list(range(len(chunks) + 1))
    assert sorted(c.chunk_index for c in run.calls) == list(range(len(chunks)))
    if model == "whisper-1":
        starts = [w.start for s in result.segments for w in s.words]
        assert starts == sorted(starts) and starts[-1] > 55  # timestamps shifted to the whole file


def test_ledger_total_equals_server_usage_times_price(fake: FakeOpenAI, tmp_path: Path, audio: Audio) -> None:
    provider = provider_for(fake, tmp_path, tuning={"target_chunk_s": 20.0})
    calls: list[CallRecord] = []
    for model in ("gpt-transcribe", "gpt-4o-transcribe"):
        run = run_for(audio.long, model)
        fake.fail_next(Fault.server_error(503))  # a failed attempt must add nothing
        provider.transcribe(run.request)
        calls += run.calls
    per_minute = {"gpt-transcribe": 0.0045}
    expected = 0.0
    for model, usage in fake.usage:
        if usage["type"] == "duration":
            expected += usage["seconds"] / 60 * per_minute[model]
        else:
            details = usage["input_token_details"]
            expected += (details["audio_tokens"] * 6 + details["text_tokens"] * 2.5 + usage["output_tokens"] * 10) / 1e6
    assert sum(c.cost_usd for c in calls) == pytest.approx(expected, rel=1e-9)
    assert len([c for c in calls if c.status == "ok"]) == len(fake.usage)
    assert any(c.input_tokens and c.output_tokens for c in calls)


def test_missing_usage_is_priced_from_the_measured_duration(tmp_path: Path, audio: Audio) -> None:
    with FakeOpenAI(api_key=KEY, omit_usage=True) as server:
        run = run_for(audio.short, "gpt-4o-transcribe")
        provider_for(server, tmp_path).transcribe(run.request)
    (call,) = run.calls
    assert call.estimated and call.input_tokens == 0
    assert call.cost_usd == pytest.approx(call.audio_seconds / 60 * 0.006) and call.audio_seconds == pytest.approx(
        8, abs=0.1
    )


def test_previous_chunk_words_are_the_next_prompt(fake: FakeOpenAI, tmp_path: Path, audio: Audio) -> None:
    run = run_for(audio.long, "gpt-transcribe", prompt="Names: Kilo.")
    provider_for(fake, tmp_path, openai_concurrency=1, tuning={"target_chunk_s": 20.0}).transcribe(run.request)
    prompts = [r.fields["prompt"] for r in fake.paths()]
    assert prompts[0] == "Names: Kilo."
    assert all(p.startswith("Names: Kilo. ") and len(p.split()) > 5 for p in prompts[1:])


def test_chunk_store_resends_only_missing_chunks(fake: FakeOpenAI, tmp_path: Path, audio: Audio) -> None:
    store = DictStore()
    provider = provider_for(fake, tmp_path, openai_concurrency=1, tuning={"target_chunk_s": 14.0})
    fake.fail_next(Fault("none"), Fault("none"), Fault.unauthorized())  # the third chunk fails for good
    with pytest.raises(ProviderError):
        provider.transcribe(run_for(audio.long, chunk_store=store, cache_key="job-1").request)
    assert len(store.data) == 2
    sent_before = len(fake.paths())
    run = run_for(audio.long, chunk_store=store, cache_key="job-1")
    result = provider.transcribe(run.request)
    total = len(store.data)
    assert len(fake.paths()) - sent_before == total - 2
    assert words(result.text) == audio.long_words and run.progress[0].done == 2
    again = run_for(audio.long, chunk_store=store, cache_key="job-1")
    assert provider.transcribe(again.request).text == result.text and again.calls == []


def test_cancel_stops_sending_new_chunks(fake: FakeOpenAI, tmp_path: Path, audio: Audio) -> None:
    store = DictStore()
    run = run_for(audio.long, chunk_store=store, cache_key="job-2")
    run.request.should_cancel = lambda: len(run.progress) >= 2
    provider = provider_for(fake, tmp_path, openai_concurrency=1, tuning={"target_chunk_s": 14.0})
    with pytest.raises(Cancelled, match="cancelled"):
        provider.transcribe(run.request)
    assert len(fake.paths()) == len(store.data) == 1


# ---- streaming --------------------------------------------------------------------------------------------


def test_stream_text_yields_deltas_and_returns_the_result(fake: FakeOpenAI, tmp_path: Path, audio: Audio) -> None:
    run = run_for(audio.long, "gpt-4o-mini-transcribe")
    stream = provider_for(fake, tmp_path, tuning={"target_chunk_s": 30.0}).stream_text(run.request)
    deltas: list[str] = []
    while True:
        try:
            deltas.append(next(stream))
        except StopIteration as done:
            result = done.value
            break
    assert len(deltas) > 20 and words(result.text) == audio.long_words
    assert all(c.status == "ok" and c.input_tokens for c in run.calls) and len(run.calls) == len(fake.paths())
    assert all(r.fields.get("stream") == "true" for r in fake.paths())


def test_transcribe_with_stream_option_forwards_deltas(fake: FakeOpenAI, tmp_path: Path, audio: Audio) -> None:
    deltas: list[str] = []
    run = run_for(audio.short, "gpt-transcribe", options={"stream": True, "on_delta": deltas.append})
    result = provider_for(fake, tmp_path).transcribe(run.request)
    assert words("".join(deltas)) == words(result.text) == audio.short_words
    ((_, usage),) = fake.usage
    assert len(run.calls) == 1 and run.calls[0].audio_seconds == usage["seconds"]  # billed, from the done event


# ---- breaker, models, keys ------------------------------------------------------------------------------------


def test_breaker_opens_then_recovers(fake: FakeOpenAI, tmp_path: Path, audio: Audio) -> None:
    now = [0.0]
    breaker = CircuitBreaker("OpenAI", failures=2, cooldown_s=30, clock=lambda: now[0])
    provider = provider_for(fake, tmp_path, tuning={"breaker": breaker})
    fake.fail_next(*[Fault.server_error(503)] * 5)
    with pytest.raises(ProviderUnavailable, match="OpenAI is not answering; next try at"):
        provider.transcribe(run_for(audio.short).request)
    assert len(fake.paths()) == 2  # the breaker stopped the retries
    with pytest.raises(ProviderUnavailable):
        provider.transcribe(run_for(audio.short).request)
    assert len(fake.paths()) == 2  # failed fast, nothing sent
    now[0] += 31  # the cooldown has passed: the next call is the probe
    fake.clear_faults()  # the server is healthy again
    assert words(provider.transcribe(run_for(audio.short).request).text) == audio.short_words
    assert breaker.state == "closed"


def test_shut_down_model_is_refused_naming_the_replacement(fake: FakeOpenAI, tmp_path: Path, audio: Audio) -> None:
    provider = provider_for(fake, tmp_path, tuning={"today": lambda: date(2027, 3, 1)})
    with pytest.raises(InputError, match="use gpt-transcribe instead"):
        provider.transcribe(run_for(audio.short, "whisper-1").request)
    assert fake.requests == []


def test_unknown_model_on_a_compatible_server_is_unpriced(tmp_path: Path, audio: Audio) -> None:
    with FakeOpenAI() as server:  # a self-hosted server that needs no key
        settings = Settings(openai_base_url=server.base_url, data_dir=tmp_path)
        provider = OpenAIProvider.from_settings(settings, policy=FAST, breaker=CircuitBreaker("x"))
        run = run_for(audio.short, "Systran/faster-whisper-small")
        assert words(provider.transcribe(run.request).text) == audio.short_words
    (call,) = run.calls
    assert call.unpriced and call.cost_usd == 0 and call.status == "ok"


def test_unknown_model_on_openai_is_refused(tmp_path: Path, audio: Audio) -> None:
    provider = OpenAIProvider.from_settings(Settings(openai_api_key=KEY, data_dir=tmp_path), policy=FAST)
    with pytest.raises(InputError, match="not in the price table"):
        provider.transcribe(run_for(audio.short, "whisper-2").request)


def test_no_key_and_no_base_url_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="No OpenAI API key is set") as info:
        OpenAIProvider.from_settings(Settings(data_dir=tmp_path))
    assert not info.value.retryable


def test_key_check(fake: FakeOpenAI, tmp_path: Path) -> None:
    assert check_key(settings_for(fake, tmp_path)) == "valid"
    assert check_key(settings_for(fake, tmp_path, openai_api_key="sk-wrong")) == "invalid"
    assert check_key(Settings(data_dir=tmp_path)) == "missing"
    fake.fail_next(Fault.server_error(503))
    assert check_key(settings_for(fake, tmp_path)) == "unreachable"
    assert check_key(settings_for(fake, tmp_path, openai_base_url="http://127.0.0.1:9/v1")) == "unreachable"
    assert len(fake.paths("/v1/models")) == 3
    assert all(r.authorization in (f"Bearer {KEY}", "Bearer sk-wrong", None) for r in fake.requests)
    provider, notice = fallback_notice(settings_for(fake, tmp_path), "invalid")
    assert provider == "local" and notice and "refused" in notice
    assert fallback_notice(settings_for(fake, tmp_path), "valid") == ("openai", None)


@pytest.mark.parametrize("status", [400, 404, 429])
def test_key_check_says_works_only_on_a_success(fake: FakeOpenAI, tmp_path: Path, status: int) -> None:
    # A 404 (a server without /models), a 400 or a 429 answers without confirming the key.
    fake.fail_next(Fault("status", status, "some_error"))
    assert check_key(settings_for(fake, tmp_path)) == "unconfirmed"
    provider, notice = fallback_notice(settings_for(fake, tmp_path), "unconfirmed")
    assert provider == "local" and notice and "without confirming" in notice


# ---- summaries --------------------------------------------------------------------------------------------


def test_summary_is_one_priced_call(fake: FakeOpenAI, tmp_path: Path) -> None:
    calls: list[CallRecord] = []
    fake.fail_next(Fault.server_error(502))
    summary = provider_for(fake, tmp_path).summarize("We agreed to ship on Friday.", on_call=calls.append)
    assert summary.model == "gpt-5.4-mini" and summary.text.startswith("Summary")
    failed, ok = calls
    assert failed.status == "error" and ok.operation == "summarize" and ok.input_tokens and ok.output_tokens
    ((_, usage),) = fake.usage
    assert ok.cost_usd == pytest.approx((usage["prompt_tokens"] * 0.75 + usage["completion_tokens"] * 4.5) / 1e6)


def test_long_text_is_summarized_in_parts_then_combined(fake: FakeOpenAI, tmp_path: Path) -> None:
    calls: list[CallRecord] = []
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 150 for i in range(10))
    provider = provider_for(fake, tmp_path, tuning={"summary_chunk_chars": 2_000})
    provider.summarize(text, on_call=calls.append)
    chats = fake.paths("/v1/chat/completions")
    assert len(chats) == len(calls) >= 4 and all(c.status == "ok" for c in calls)
