"""The local provider: streaming PCM windows (fast, synthetic) and real tiny.en transcription (slow)."""

from __future__ import annotations

import re
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
import pytest

from core.audio.pcm import SAMPLE_RATE, decode_pcm, iter_pcm_windows, quiet_cut, split_windows
from core.config import Settings
from core.errors import Cancelled, InputError, ProviderError
from core.providers.base import CallRecord, ChunkProgress, TranscriptionRequest, TranscriptionResult
from core.providers.local import BUNDLED_MODEL, LocalProvider, WhisperLoader, resolve_model

FIXTURES = Path(__file__).parent / "fixtures"
SPOKEN = sorted(p for p in FIXTURES.glob("speech_*") if p.suffix in {".wav", ".mp3", ".ogg", ".flac"})
MAX_WER = 0.2

# -- text normalisation for WER ---------------------------------------------------------------------

_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen _ _ twenty thirty forty fifty sixty seventy eighty ninety"
)
_ONES = _NUMBER_WORDS.split()[:20]
_TENS = _NUMBER_WORDS.split()[20:]
_ORDINALS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth"}
_ORDINALS |= {"nine": "ninth", "twelve": "twelfth"}


def number_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    return number_words(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + number_words(n % 1000))


def ordinal_words(n: int) -> str:
    *head, last = number_words(n).split()
    if last in _ORDINALS:
        last = _ORDINALS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join([*head, last])


def normalise(text: str) -> str:
    """Lower case, digits spelled out ("3rd" -> "third", "300" -> "three hundred"), no punctuation."""
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text.lower())
    text = re.sub(
        r"\b(\d+)(st|nd|rd|th)?\b",
        lambda m: ordinal_words(int(m[1])) if m[2] else number_words(int(m[1])),
        text,
    )
    return " ".join(re.sub(r"[^a-z]+", " ", text).split())


def wer(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalise(reference), normalise(hypothesis)))


def test_normalise_spells_out_numbers() -> None:
    assert normalise("On the 3rd of March, 12 tables & 300 guests; the 21st, 1,500.") == (
        "on the third of march twelve tables three hundred guests the twenty first one thousand five hundred"
    )


# -- PCM windows on synthetic data --------------------------------------------------------------------


def _tone(seconds: float, rng: np.random.Generator) -> np.ndarray:
    return (rng.standard_normal(int(seconds * SAMPLE_RATE)) * 0.3).astype(np.float32)


def _chunked(pcm: np.ndarray, rng: np.random.Generator) -> Iterator[np.ndarray]:
    pos = 0
    while pos < pcm.size:
        size = int(rng.integers(1, 9000))
        yield pcm[pos : pos + size]
        pos += size


def test_quiet_cut_finds_the_silent_stretch() -> None:
    rng = np.random.default_rng(1)
    pcm = np.concatenate([_tone(3, rng), np.zeros(1600, np.float32), _tone(1, rng)])
    cut = quiet_cut(pcm, search=3 * SAMPLE_RATE, quiet=1600)
    assert cut == 3 * SAMPLE_RATE + 800  # the centre of the 100 ms gap


def test_quiet_cut_prefers_the_latest_point_in_digital_silence() -> None:
    pcm = np.zeros(5 * SAMPLE_RATE, np.float32)
    assert quiet_cut(pcm, search=2 * SAMPLE_RATE, quiet=1600) == pcm.size - 800


def test_quiet_cut_on_a_window_shorter_than_the_quiet_stretch_keeps_it_whole() -> None:
    assert quiet_cut(np.ones(100, np.float32), search=16000, quiet=1600) == 100


def test_split_windows_loses_nothing_and_cuts_in_the_gaps() -> None:
    rng = np.random.default_rng(2)
    # Speech-like bursts of 2.3 s separated by 0.2 s of silence: every cut must land in a gap.
    parts: list[np.ndarray] = []
    gaps: list[tuple[int, int]] = []
    pos = 0
    for _ in range(40):
        burst = _tone(2.3, rng)
        parts += [burst, np.zeros(3200, np.float32)]
        pos += burst.size
        gaps.append((pos, pos + 3200))
        pos += 3200
    pcm = np.concatenate(parts)
    window, search, quiet = 8 * SAMPLE_RATE, 3 * SAMPLE_RATE, 1600

    windows = list(split_windows(_chunked(pcm, rng), window, search, quiet))

    assert len(windows) > pcm.size // window
    np.testing.assert_array_equal(np.concatenate([w for _, w in windows]), pcm)
    expected_start = 0
    for start, win in windows:
        assert start == expected_start
        assert 0 < win.size <= window
        expected_start += win.size
    for start, win in windows[:-1]:
        cut = start + win.size
        assert any(lo < cut < hi for lo, hi in gaps), f"cut at {cut} is inside speech"
        assert win.size >= window - search


def test_split_windows_edge_cases() -> None:
    assert list(split_windows(iter(()), 100, 20, 5)) == []
    [(start, only)] = split_windows([np.ones(50, np.float32)], 100, 20, 5)
    assert (start, only.size) == (0, 50)
    # Exactly one window's worth in digital silence: cut at the very end, nothing carried.
    out = list(split_windows([np.zeros(100, np.float32)], 100, 20, 4))
    assert sum(w.size for _, w in out) == 100
    with pytest.raises(ValueError):
        list(split_windows([np.ones(5, np.float32)], 0, 0, 0))


@pytest.mark.parametrize("path", SPOKEN, ids=lambda p: p.name)
def test_iter_pcm_windows_matches_a_whole_decode(path: Path) -> None:
    whole = decode_pcm(path)
    assert whole.dtype == np.float32
    assert 5 <= whole.size / SAMPLE_RATE <= 30
    windows = list(iter_pcm_windows(path, window_s=3.0))
    assert len(windows) >= whole.size // (3 * SAMPLE_RATE)
    np.testing.assert_array_equal(np.concatenate([w for _, w in windows]), whole)
    offsets = [offset for offset, _ in windows]
    assert offsets[0] == 0.0
    for (offset, win), following in zip(windows, offsets[1:], strict=False):
        assert following == pytest.approx(offset + win.size / SAMPLE_RATE)


def test_decode_refuses_a_file_that_is_not_audio(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.mp3"
    bogus.write_text("this is not audio", encoding="utf-8")
    with pytest.raises(InputError, match="notes.mp3"):
        decode_pcm(bogus)


def test_iter_pcm_windows_refuses_a_tiny_window() -> None:
    with pytest.raises(ValueError):
        next(iter_pcm_windows(SPOKEN[0], window_s=0.1))


# -- provider behaviour that needs no model ----------------------------------------------------------


def test_resolve_model(tmp_path: Path) -> None:
    name, ref, local_only = resolve_model(None)
    assert (name, local_only) == (BUNDLED_MODEL, True)
    assert (Path(ref) / "model.bin").is_file()
    assert resolve_model("tiny.en") == (name, ref, True)
    assert resolve_model(str(tmp_path)) == (tmp_path.name, str(tmp_path), True)
    assert resolve_model("base.en") == ("base.en", "base.en", False)


def test_shared_is_one_instance_per_model_and_threads() -> None:
    first = LocalProvider.shared(Settings(local_model=None, local_threads=0))
    assert LocalProvider.shared(Settings(local_model="tiny.en", local_threads=0)) is first
    assert LocalProvider.shared(Settings(local_model=None, local_threads=1)) is not first
    assert first.default_model() == "tiny.en"
    assert first.name == "local"


def _unloaded() -> LocalProvider:
    return LocalProvider(WhisperLoader("tiny.en", "/nonexistent/model"))


@pytest.mark.parametrize("language", ["fr", "de-DE", "zh"])
def test_a_language_other_than_english_is_refused(language: str) -> None:
    calls: list[CallRecord] = []
    request = TranscriptionRequest(SPOKEN[0], "x", 8.0, language=language, on_call=calls.append)
    with pytest.raises(InputError, match="English only"):
        _unloaded().transcribe(request)
    assert calls == []  # refused before anything ran


def test_another_model_is_refused() -> None:
    with pytest.raises(InputError, match="whisper-1"):
        _unloaded().transcribe(TranscriptionRequest(SPOKEN[0], "x", 8.0, model="whisper-1"))


def test_a_model_that_cannot_load_is_a_provider_error_and_recorded() -> None:
    calls: list[CallRecord] = []
    with pytest.raises(ProviderError, match="could not be loaded"):
        _unloaded().transcribe(TranscriptionRequest(SPOKEN[0], "x", 8.0, on_call=calls.append))
    assert [(c.operation, c.status) for c in calls] == [("transcribe", "error")]


def test_summarize_is_extractive_and_recorded() -> None:
    calls: list[CallRecord] = []
    text = " ".join(f"Sentence number {i} talks about the budget." for i in range(12))
    result = _unloaded().summarize(text, on_call=calls.append)
    assert result.model == "extractive"
    assert 0 < len(result.text) < len(text)
    assert [(c.operation, c.model, c.cost_usd) for c in calls] == [("summarize", "extractive", 0.0)]
    with pytest.raises(InputError):
        _unloaded().summarize(text, model="gpt-5.4-mini")


# -- real transcription with tiny.en (slow) ---------------------------------------------------------


@dataclass
class Recorder:
    calls: list[CallRecord] = field(default_factory=list)
    progress: list[ChunkProgress] = field(default_factory=list)


class DictChunkStore:
    def __init__(self) -> None:
        self.items: dict[tuple[str, int], dict[str, Any]] = {}

    def get(self, job_key: str, index: int) -> dict[str, Any] | None:
        return self.items.get((job_key, index))

    def put(self, job_key: str, index: int, result: dict[str, Any]) -> None:
        self.items[(job_key, index)] = result


def _request(path: Path, rec: Recorder, **kwargs: Any) -> TranscriptionRequest:
    duration = decode_pcm(path).size / SAMPLE_RATE
    return TranscriptionRequest(
        path, "sha", duration, on_call=rec.calls.append, on_progress=rec.progress.append, **kwargs
    )


@pytest.fixture(scope="module")
def provider() -> LocalProvider:
    local = LocalProvider.shared(Settings(local_model=None, local_threads=0))
    local.load()
    return local


def _check_timeline(result: TranscriptionResult) -> None:
    assert result.segments
    previous = 0.0
    for seg in result.segments:
        assert previous - 0.01 <= seg.start <= seg.end <= result.duration_s + 1e-6
        assert seg.text == seg.text.strip() and seg.text
        assert seg.speaker is None
        assert seg.confidence is not None and 0.0 <= seg.confidence <= 1.0
        assert seg.words, "word timestamps are missing"
        for word in seg.words:
            assert seg.start - 1e-6 <= word.start <= word.end <= seg.end + 1e-6
            assert word.confidence is not None and 0.0 <= word.confidence <= 1.0
        previous = seg.start


@pytest.mark.slow
@pytest.mark.parametrize("path", SPOKEN, ids=lambda p: p.name)
def test_transcribes_spoken_fixture(provider: LocalProvider, path: Path) -> None:
    rec = Recorder()
    request = _request(path, rec)
    result = provider.transcribe(request)

    reference = path.with_suffix(".txt").read_text(encoding="utf-8")
    assert wer(reference, result.text) <= MAX_WER, result.text
    assert result.language == "en"
    assert result.model == "tiny.en"
    assert result.duration_s == pytest.approx(request.duration_s, abs=0.01)
    _check_timeline(result)
    [call] = rec.calls
    assert (call.operation, call.model, call.status, call.cost_usd) == ("transcribe", "tiny.en", "ok", 0.0)
    assert call.audio_seconds == pytest.approx(result.duration_s)
    assert call.latency_ms > 0
    assert rec.progress[-1] == ChunkProgress(1, 1)


@pytest.mark.slow
def test_prompt_and_english_code_are_accepted(provider: LocalProvider) -> None:
    rec = Recorder()
    result = provider.transcribe(_request(SPOKEN[0], rec, language="en-US", prompt="draft, report"))
    assert wer(SPOKEN[0].with_suffix(".txt").read_text(encoding="utf-8"), result.text) <= MAX_WER


@pytest.fixture(scope="module")
def long_audio(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """All fixtures twice over, 0.5 s apart, as one 16 kHz WAV (> 2 min), with the joined reference."""
    gap = np.zeros(SAMPLE_RATE // 2, np.float32)
    pcm = np.concatenate([piece for p in SPOKEN * 2 for piece in (decode_pcm(p), gap)])
    path = tmp_path_factory.mktemp("long") / "long.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())
    reference = " ".join(p.with_suffix(".txt").read_text(encoding="utf-8").strip() for p in SPOKEN * 2)
    return path, reference


@dataclass
class LongRun:
    result: TranscriptionResult
    rec: Recorder
    store: DictChunkStore


@pytest.fixture(scope="module")
def long_run(provider: LocalProvider, long_audio: tuple[Path, str]) -> LongRun:
    rec, store = Recorder(), DictChunkStore()
    request = _request(long_audio[0], rec, chunk_store=store, cache_key="job-1")
    return LongRun(provider.with_options(window_s=8.0).transcribe(request), rec, store)


@pytest.mark.slow
def test_long_audio_is_windowed_and_still_accurate(long_run: LongRun, long_audio: tuple[Path, str]) -> None:
    result, rec = long_run.result, long_run.rec
    assert result.duration_s > 120
    assert wer(long_audio[1], result.text) <= MAX_WER, result.text
    _check_timeline(result)
    # Timestamps are shifted by each window's offset: speech is found all the way to the end.
    assert result.segments[-1].end > result.duration_s - 10
    windows = rec.progress[-1].done
    assert windows >= result.duration_s / 8
    assert [p.done for p in rec.progress] == list(range(windows + 1))
    assert rec.progress[-1].total == windows
    assert len(rec.calls) == 1 and rec.calls[0].audio_seconds == pytest.approx(result.duration_s)
    assert len(long_run.store.items) == windows


@pytest.mark.slow
def test_stored_windows_are_not_transcribed_again(
    provider: LocalProvider, long_run: LongRun, long_audio: tuple[Path, str]
) -> None:
    store = DictChunkStore()
    store.items = {key: dict(value) for key, value in long_run.store.items.items()}
    first = store.items[("job-1", 0)]
    first["segments"] = [{**first["segments"][0], "text": "FROM THE STORE"}, *first["segments"][1:]]
    request = _request(long_audio[0], Recorder(), chunk_store=store, cache_key="job-1")
    result = provider.with_options(window_s=8.0).transcribe(request)
    assert result.segments[0].text == "FROM THE STORE"
    assert [s.text for s in result.segments[1:]] == [s.text for s in long_run.result.segments[1:]]


@pytest.mark.slow
def test_cancel_is_honoured_between_windows(provider: LocalProvider, long_audio: tuple[Path, str]) -> None:
    rec = Recorder()
    request = _request(long_audio[0], rec, should_cancel=lambda: len(rec.progress) >= 2)
    with pytest.raises(Cancelled, match="cancelled"):
        provider.with_options(window_s=8.0).transcribe(request)
    assert [p.done for p in rec.progress] == [0, 1]  # stopped after the first window
    [call] = rec.calls
    assert call.status == "error" and 0 < call.audio_seconds <= 8.0
