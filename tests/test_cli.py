"""The CLI contract: JSON keys, formats and exit codes that scripts rely on."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import FIXTURES, cli_env, make_users

KEYS = {
    "id",
    "sha256",
    "filename",
    "duration_s",
    "language",
    "provider",
    "model",
    "text",
    "segments",
    "summary",
    "cost_usd",
    "cached",
}
SEGMENT_KEYS = {"start", "end", "text", "speaker", "confidence"}


def run(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=cli_env(tmp_path / "data", WORKBENCH_PROVIDER="mock", **env),
        timeout=120,
    )


def test_transcribe_json_contract_and_cache(tmp_path):
    first = run(tmp_path, "transcribe", str(FIXTURES / "fmt_speech.mp3"), "--format", "json", "--summarize")
    assert first.returncode == 0, first.stderr
    row = json.loads(first.stdout.strip())
    assert set(row) == KEYS
    assert row["filename"] == "fmt_speech.mp3" and row["provider"] == "mock" and not row["cached"]
    assert len(row["sha256"]) == 64 and row["duration_s"] > 1 and row["summary"]
    assert row["segments"] and set(row["segments"][0]) == SEGMENT_KEYS
    assert row["cost_usd"] == 0.0
    again = json.loads(run(tmp_path, "transcribe", str(FIXTURES / "fmt_speech.mp3"), "--format", "json").stdout)
    assert again["cached"] and again["id"] == row["id"] and again["text"] == row["text"]


def test_bad_files_exit_2_but_good_ones_still_run(tmp_path):
    res = run(
        tmp_path,
        "transcribe",
        str(FIXTURES / "bad_pdf.mp3"),
        str(FIXTURES / "fmt_speech.wav"),
        str(tmp_path / "nope.mp3"),
        "--format",
        "json",
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("bad_pdf.mp3: ") and "PDF" in lines[0]
    assert lines[1].startswith("nope.mp3: ")
    assert "Traceback" not in res.stderr
    assert json.loads(res.stdout)["filename"] == "fmt_speech.wav"


@pytest.mark.parametrize("fmt,marker", [("srt", " --> "), ("vtt", "WEBVTT"), ("txt", "")])
def test_text_formats(tmp_path, fmt, marker):
    res = run(tmp_path, "transcribe", str(FIXTURES / "fmt_speech.ogg"), "--format", fmt)
    assert res.returncode == 0 and marker in res.stdout and res.stdout.strip()


def test_transcripts_list_show_and_not_permitted(tmp_path):
    make_users(tmp_path / "data", "alice", "bob")
    row = json.loads(
        run(tmp_path, "transcribe", str(FIXTURES / "fmt_speech.flac"), "--user", "alice", "--format", "json").stdout
    )
    listed = json.loads(run(tmp_path, "transcripts", "list", "--user", "alice", "--json").stdout)
    assert [t["id"] for t in listed] == [row["id"]]
    shown = run(tmp_path, "transcripts", "show", str(row["id"]), "--user", "alice", "--format", "json")
    assert json.loads(shown.stdout)["text"] == row["text"]
    other = run(tmp_path, "transcripts", "show", str(row["id"]), "--user", "bob")
    missing = run(tmp_path, "transcripts", "show", "424242", "--user", "bob")
    assert other.returncode == missing.returncode == 5
    assert other.stderr.replace(str(row["id"]), "N") == missing.stderr.replace("424242", "N")
    assert json.loads(run(tmp_path, "transcripts", "list", "--user", "bob", "--json").stdout) == []


def test_usage_json_keys_and_totals(tmp_path):
    make_users(tmp_path / "data", "alice")
    run(tmp_path, "transcribe", str(FIXTURES / "fmt_speech.mp3"), "--user", "alice")
    run(tmp_path, "transcribe", str(FIXTURES / "fmt_speech.mp3"), "--user", "alice")
    res = run(tmp_path, "usage", "--json", "--user", "alice")
    usage = json.loads(res.stdout)
    assert {"calls", "cost_usd", "audio_seconds", "cache_hits", "saved_usd", "by_model", "by_user"} <= set(usage)
    assert usage["calls"] == 2 and usage["cache_hits"] == 1 and usage["cost_usd"] == 0
    assert usage["saved_usd"] > 0 and "mock-1" in usage["by_model"] and set(usage["by_user"]) == {"alice"}


def test_bad_setting_fails_with_one_sentence(tmp_path):
    res = run(tmp_path, "transcripts", "list", WORKBENCH_MAX_UPLOAD_MB="lots")
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0 and "WORKBENCH_MAX_UPLOAD_MB" in res.stderr


def test_invalid_option_exits_2(tmp_path):
    res = run(tmp_path, "transcribe", str(FIXTURES / "fmt_speech.mp3"), "--language", "english!")
    assert res.returncode == 2 and "ISO 639-1" in res.stderr and "Traceback" not in res.stderr


def test_doctor_reports_without_leaking_the_key(tmp_path):
    res = run(tmp_path, "doctor", "--offline", OPENAI_API_KEY="sk-test-SECRET-123")
    assert res.returncode == 0, res.stdout + res.stderr
    for name in ("database", "migrations", "ffmpeg", "local model", "openai key", "disk"):
        assert name in res.stdout
    assert "SECRET" not in res.stdout + res.stderr


def test_an_unknown_user_is_refused_and_a_name_never_takes_over_an_account(tmp_path):
    # Issue 10, item 13: `--user Alice` used to create a second "Alice" beside the web user "alice".
    make_users(tmp_path / "data", "alice")
    unknown = run(tmp_path, "transcripts", "list", "--user", "mallory", "--json")
    assert unknown.returncode == 5 and "no user called 'mallory'" in unknown.stderr and unknown.stdout == ""
    made = json.loads(
        run(tmp_path, "transcribe", str(FIXTURES / "fmt_speech.flac"), "--user", "Alice", "--format", "json").stdout
    )
    listed = json.loads(run(tmp_path, "transcripts", "list", "--user", "alice", "--json").stdout)
    assert [(t["id"], t["owner"]) for t in listed] == [(made["id"], "alice")]
    users = json.loads(run(tmp_path, "users", "list", "--json").stdout)
    assert sorted(u["name"].lower() for u in users).count("alice") == 1
    assert "mallory" not in {u["name"] for u in users}


def test_search_finds_the_moment_and_delete_removes_it(tmp_path):
    make_users(tmp_path / "data", "alice", "bob")
    made = json.loads(
        run(tmp_path, "transcribe", str(FIXTURES / "fmt_speech.flac"), "--user", "alice", "--format", "json").stdout
    )
    word = max(made["text"].split(), key=len).strip(".,!?")
    lines = run(tmp_path, "transcripts", "search", word, "--user", "alice", "--json").stdout.splitlines()
    hits = [json.loads(line) for line in lines]
    assert [h["id"] for h in hits] == [made["id"]] and set(hits[0]) == {"id", "filename", "snippet", "start_s"}
    spoken = [s["start"] for s in made["segments"] if word.lower() in s["text"].lower()]
    assert spoken and spoken[0] - 0.01 <= hits[0]["start_s"] <= max(s["end"] for s in made["segments"])
    assert run(tmp_path, "transcripts", "search", word, "--user", "bob", "--json").stdout == ""  # not bob's
    assert run(tmp_path, "transcripts", "delete", str(made["id"]), "--user", "bob").returncode == 5
    assert run(tmp_path, "transcripts", "delete", str(made["id"]), "--user", "alice").returncode == 0
    assert run(tmp_path, "transcripts", "delete", str(made["id"]), "--user", "alice").returncode == 5
    assert run(tmp_path, "transcripts", "search", word, "--user", "alice", "--json").stdout == ""


def test_usage_json_leaves_demo_rows_out_unless_asked(tmp_path):
    # Issue 10, item 18 (CLI part): demo figures never mix with real ones by default.
    seeded = run(tmp_path, "seed-demo", "--events", "500")
    assert seeded.returncode == 0, seeded.stderr
    real = json.loads(run(tmp_path, "usage", "--json").stdout)
    with_demo = json.loads(run(tmp_path, "usage", "--json", "--include-demo").stdout)
    assert real["calls"] == 0 and with_demo["calls"] >= 500
