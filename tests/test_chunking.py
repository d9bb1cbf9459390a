"""Transcode, silences, chunk plans, seams: no word lost or repeated."""

from __future__ import annotations

import math
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.audio.chunks import (
    Chunk,
    ChunkTranscript,
    PreparedAudio,
    balanced_chunk_seconds,
    encode,
    ffmpeg_exe,
    max_chunk_seconds,
    merge_transcripts,
    plan_chunks,
    prepare,
    probe_duration,
    seam_overlap,
    shift_segments,
)
from core.errors import InputError, ProviderError
from core.providers.lanes import run_lanes, split_lanes
from core.transcripts.types import Segment, Word
from tests.fake_openai import decode_mono, recognize, write_tone_speech


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], Path, PreparedAudio]:
    folder = tmp_path_factory.mktemp("speech")
    source = folder / "speech.wav"
    spoken = write_tone_speech(source, 40, seed=7)
    mp3 = folder / "speech.mp3"  # a typical upload: stereo 44.1 kHz MP3
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(source), "-ac", "2", "-ar", "44100", "-b:a", "128k", str(mp3)],
        check=True,
    )
    prepared = prepare(mp3, folder / "prepared.wav")
    return mp3, [w.text for w in spoken], folder, prepared


def test_upload_is_compact_and_keeps_every_word(speech: tuple[Path, list[str], Path, PreparedAudio]) -> None:
    mp3, words, folder, prepared = speech
    assert prepared.duration_s == pytest.approx(40, abs=0.1)
    whole = encode(prepared.path, Chunk(0, 0.0, prepared.duration_s), folder / "whole.ogg")
    assert whole.stat().st_size * 4 < mp3.stat().st_size  # 16 kHz mono Opus at 24k vs 128k MP3
    heard = recognize(decode_mono(whole.read_bytes()))
    assert [w.text for w in heard] == words


def test_silences_are_found_at_the_pauses(speech: tuple[Path, list[str], Path, PreparedAudio]) -> None:
    _mp3, _words, folder, prepared = speech
    spoken = write_tone_speech(folder / "again.wav", 40, seed=7)
    assert len(prepared.silences) > 5
    for start, end in prepared.silences:
        mid = (start + end) / 2
        assert not any(w.start < mid < w.end for w in spoken), "a silence midpoint fell inside a word"


def test_encoded_chunk_starts_exactly_at_the_chunk(speech: tuple[Path, list[str], Path, PreparedAudio]) -> None:
    _mp3, _words, folder, prepared = speech
    spoken = write_tone_speech(folder / "ref.wav", 40, seed=7)
    (a, b), (c, d) = prepared.silences[1], prepared.silences[-2]
    chunk = Chunk(1, (a + b) / 2, (c + d) / 2)
    piece = encode(prepared.path, chunk, folder / "piece.ogg")
    heard = recognize(decode_mono(piece.read_bytes()))
    expected = [w for w in spoken if chunk.start < w.start and w.end < chunk.end]
    assert [w.text for w in heard] == [w.text for w in expected]
    offsets = [h.start + chunk.start - e.start for h, e in zip(heard, expected, strict=True)]
    assert max(abs(o) for o in offsets) < 0.03


def test_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    junk = tmp_path / "notes.mp3"
    junk.write_bytes(b"this is not audio" * 100)
    with pytest.raises(InputError, match="notes.mp3"):
        prepare(junk, tmp_path / "out.wav")
    with pytest.raises(InputError):
        probe_duration(junk)


def test_probe_duration(speech: tuple[Path, list[str], Path, PreparedAudio]) -> None:
    mp3, _words, folder, _prepared = speech
    assert probe_duration(mp3) == pytest.approx(40, abs=0.1)
    assert probe_duration(folder / "speech.wav") == pytest.approx(40, abs=0.001)


def test_short_audio_is_one_chunk() -> None:
    assert plan_chunks(100.0, [], 600.0) == [Chunk(0, 0.0, 100.0)]


def test_plan_cuts_at_silences_with_overlap() -> None:
    silences = [(t, t + 0.8) for t in range(5, 300, 7)]
    chunks = plan_chunks(300.0, silences, 60.0, overlap_s=1.0)
    assert chunks[0].start == 0.0 and chunks[-1].end == 300.0
    assert [c.index for c in chunks] == list(range(len(chunks)))
    mids = {t + 0.4 for t in range(5, 300, 7)}
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.duration <= 60.0
        assert any(abs(before.end - m) < 1e-9 for m in mids), "cut is not in a silence"
        assert 0.0 < before.end - after.start <= 3.0  # a small overlap


def test_plan_without_silences_hard_cuts() -> None:
    chunks = plan_chunks(250.0, [], 100.0, overlap_s=1.0)
    assert all(c.duration <= 100.0 for c in chunks)
    assert chunks[-1].end == 250.0
    assert all(b.end - a.start == pytest.approx(1.0) for b, a in zip(chunks, chunks[1:], strict=False))


@pytest.mark.parametrize(
    ("model_limit", "target", "expected"),
    [
        (None, None, 0.95 * 24 * 1024 * 1024 / 4000),  # bound by the 25 MB upload limit at worst-case bitrate
        (1400.0, None, 1400 * 0.97),  # the model's duration limit
        (1400.0, 600.0, 600.0),  # the target for parallel chunks
    ],
)
def test_max_chunk_seconds(model_limit: float | None, target: float | None, expected: float) -> None:
    assert max_chunk_seconds(model_limit_s=model_limit, target_s=target) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("we met on monday. The budget", "The budget was approved", 2),
        ("we met on Monday", "monday, then we left", 1),
        ("one two three", "four five", 0),
        ("a b a b", "a b c", 2),
    ],
)
def test_seam_overlap(before: str, after: str, expected: int) -> None:
    assert seam_overlap(before.split(), after.split(), 8) == expected


def _timed(chunk: Chunk, words: list[tuple[float, str]]) -> ChunkTranscript:
    ws = tuple(Word(t, t + 0.3, text) for t, text in words)
    seg = Segment(ws[0].start, ws[-1].end, " ".join(w.text for w in ws), words=ws)
    return ChunkTranscript(chunk, seg.text, (seg,), timed=True)


def test_merge_timed_keeps_each_word_once() -> None:
    a = _timed(Chunk(0, 0.0, 10.0), [(7.0, "the"), (8.0, "budget"), (9.2, "was")])
    b = _timed(Chunk(1, 8.8, 20.0), [(9.21, "was"), (10.5, "approved")])
    text, segments = merge_transcripts([b, a], overlap_s=1.2)
    assert text == "the budget was approved"
    assert [w.text for s in segments for w in s.words] == ["the", "budget", "was", "approved"]


def test_merge_untimed_drops_repeated_words_ignoring_case_and_punctuation() -> None:
    a = ChunkTranscript(
        Chunk(0, 0.0, 10.0), "We met on Monday. The budget", (Segment(0, 10, "We met on Monday. The budget"),), False
    )
    b = ChunkTranscript(
        Chunk(1, 9.0, 20.0), "the budget, was approved.", (Segment(9, 20, "the budget, was approved."),), False
    )
    text, segments = merge_transcripts([a, b])
    assert text == "We met on Monday. The budget was approved."
    assert segments[0].end == segments[1].start == pytest.approx(9.5)


def test_merge_diarized_segments_keeps_speakers() -> None:
    a = ChunkTranscript(
        Chunk(0, 0.0, 10.0), "", (Segment(1, 4, "Hello there.", "A"), Segment(8.9, 9.9, "Yes.", "B")), True
    )
    b = ChunkTranscript(Chunk(1, 9.0, 20.0), "", (Segment(9.0, 9.9, "Yes.", "B"), Segment(12, 14, "Good.", "A")), True)
    text, segments = merge_transcripts([a, b])
    assert text == "Hello there. Yes. Good."
    assert [s.speaker for s in segments] == ["A", "B", "A"]


def test_shift_segments_moves_words_too() -> None:
    seg = Segment(1.0, 2.0, "hi", words=(Word(1.0, 1.5, "hi"),))
    (shifted,) = shift_segments([seg], 10.0)
    assert (shifted.start, shifted.end, shifted.words[0].start) == (11.0, 12.0, 11.0)


@pytest.mark.parametrize("lanes", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("duration", [700.0, 1900.0, 3600.0, 7200.0])
def test_balanced_chunks_need_no_extra_round(duration: float, lanes: int) -> None:
    """With N lanes, a file goes out in as few rounds as the 600 s limit allows: no lone chunk at the end."""
    length = balanced_chunk_seconds(duration, 600.0, lanes)
    pauses = [(t + 0.0, t + 0.6) for t in range(3, int(duration), 7)]
    chunks = plan_chunks(duration, pauses, length)
    rounds = math.ceil(math.ceil(duration / 540.0) / lanes)  # cuts land up to 10% early, at pauses
    assert length <= 600.0 and all(c.duration <= length for c in chunks)
    assert math.ceil(len(chunks) / lanes) <= rounds


def test_lanes_run_in_parallel_but_call_back_on_the_callers_thread() -> None:
    caller = threading.get_ident()
    seen: list[tuple[int, int | None]] = []
    threads: set[int] = set()

    def work(item: int, previous: int | None, post: Callable[[Any], None]) -> int:
        threads.add(threading.get_ident())
        post(("event", item))
        seen.append((item, previous))
        return item

    def on_result(item: int, result: int) -> None:
        assert threading.get_ident() == caller

    events: list[Any] = []
    stopped = run_lanes(
        range(8),
        work,
        lanes=4,
        first_previous=lambda i: None,
        on_event=events.append,
        on_result=on_result,
        should_stop=lambda: False,
    )
    assert not stopped and len(threads) == 4 and sorted(e[1] for e in events) == list(range(8))
    assert sorted(seen) == [(0, None), (1, 0), (2, None), (3, 2), (4, None), (5, 4), (6, None), (7, 6)]
    assert split_lanes(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]


def test_lanes_stop_on_request_and_on_error() -> None:
    done: list[int] = []
    stopped = run_lanes(
        range(6),
        lambda i, p, post: i,
        lanes=1,
        first_previous=lambda i: None,
        on_event=lambda _e: None,
        on_result=lambda i, r: done.append(i),
        should_stop=lambda: len(done) >= 2,
    )
    assert stopped and done == [0, 1]

    def fail_on_three(item: int, previous: int | None, post: Callable[[Any], None]) -> int:
        if item == 3:
            raise ProviderError("no", status_code=400)
        return item

    done.clear()
    with pytest.raises(ProviderError):
        run_lanes(
            range(6),
            fail_on_three,
            lanes=1,
            first_previous=lambda i: None,
            on_event=lambda _e: None,
            on_result=lambda i, r: done.append(i),
            should_stop=lambda: False,
        )
    assert done == [0, 1, 2]
