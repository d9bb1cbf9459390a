"""The API key comes only from env or secrets and never reaches logs, the database, user-facing errors or exports."""

from __future__ import annotations

import io
import json
import logging
import secrets
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings, load_settings
from core.errors import ConfigError, ProviderError, WorkbenchError
from core.identity.users import get_or_create_user
from core.jobs import api as jobs
from core.log import Redactor, configure_logging
from core.text import REDACTED
from core.transcripts import repository as repo
from core.transcripts.export.docs import ALL_FORMATS, export_file
from core.transcripts.service import TranscribeOptions, export_transcript, summarize_transcript, transcribe_file
from core.workbench import Workbench
from tests.fake_openai import FakeOpenAI, Fault, write_tone_speech

KEY = f"sk-test-LEAKCHECK-{secrets.token_hex(12)}"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as server:
        yield server


@pytest.fixture
def speech(tmp_path: Path) -> Path:
    path = tmp_path / "talk.wav"
    write_tone_speech(path, 6, seed=3)
    return path


def _leaks(blob: bytes) -> bool:
    """The key, or a recognisable part of it, in any encoding we write."""
    needles = [KEY, KEY[8:], KEY.encode("utf-16-le").decode("latin-1")]
    text = blob.decode("latin-1")
    return any(n in text for n in needles)


def _database_bytes(settings: Settings) -> bytes:
    files = sorted(settings.data_dir.glob("*.db*"))  # workbench.db, its -wal and -shm, the queue's db
    assert any(f.name == "workbench.db" for f in files)
    return b"".join(f.read_bytes() for f in files)


def test_a_whole_run_leaves_the_key_nowhere(tmp_path, fake, speech, caplog, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # from the environment, as in production
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    settings = load_settings(secrets_file=None, data_dir=tmp_path / "data", provider="openai", log_level="DEBUG")
    assert settings.openai_api_key is not None and settings.openai_api_key.get_secret_value() == KEY
    json_lines, text_lines = io.StringIO(), io.StringIO()
    handler = configure_logging(settings, json_lines)
    text_handler = configure_logging(settings.model_copy(update={"log_format": "text"}), text_lines)
    logging.getLogger().addHandler(handler)  # both formats at once: the second call replaced the first
    caplog.set_level(logging.DEBUG)
    wb = Workbench.open(settings)
    shown: list[str] = []
    try:
        alice = get_or_create_user(wb.Session, "alice", "member")
        opts = TranscribeOptions(provider="openai", summarize=True, use_cache=False)
        outcome = transcribe_file(wb, speech, "talk.wav", alice, opts)
        assert outcome.transcript.text and outcome.transcript.summary and outcome.cost_usd > 0
        assert fake.requests and all(r.authorization == f"Bearer {KEY}" for r in fake.requests)  # it was used

        job = jobs.submit_transcription(wb, speech, "again.wav", alice, opts)
        assert jobs.run_job_inline(wb, job.id).state == "done"

        other = speech.with_name("other.wav")  # new audio: finished chunks of the first are never re-sent
        write_tone_speech(other, 5, seed=4)
        fake.fail_next(Fault.unauthorized())  # a refused key: the sentence a user sees
        with pytest.raises(ProviderError) as info:
            transcribe_file(wb, other, "third.wav", alice, TranscribeOptions(provider="openai", use_cache=False))
        shown.append(str(info.value))
        fake.fail_next(Fault.unauthorized())
        try:
            summarize_transcript(wb, outcome.transcript.id, alice)
        except WorkbenchError as exc:
            shown.append(str(exc))
        failed_job = jobs.submit_transcription(wb, other, "fourth.wav", alice, TranscribeOptions(provider="openai"))
        fake.fail_next(Fault.unauthorized())
        shown.append(jobs.run_job_inline(wb, failed_job.id).error or "")

        exports = [export_transcript(wb, outcome.transcript.id, alice, fmt).data for fmt in ALL_FORMATS]
        record = repo.get_transcript(wb.Session, outcome.transcript.id, alice)
        exports += [export_file(record, fmt).data for fmt in ("docx", "pdf")]
        docx = zipfile.ZipFile(io.BytesIO(exports[ALL_FORMATS.index("docx")]))
        exports += [docx.read(name) for name in docx.namelist()]
    finally:
        wb.close()
        logging.getLogger().removeHandler(handler)
        logging.getLogger().removeHandler(text_handler)
    assert len(shown) == 3 and all(s and KEY not in s and "sk-" not in s for s in shown), shown
    assert _leaks(f"x {KEY} y".encode()) and _leaks(KEY.encode("utf-16-le"))  # the check itself can see a leak
    assert not _leaks(_database_bytes(settings))
    assert not any(_leaks(blob) for blob in exports)
    logged = "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records)
    assert caplog.records and not _leaks(logged.encode())
    assert not _leaks(json_lines.getvalue().encode()) and not _leaks(text_lines.getvalue().encode())
    events = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    assert any(e["event"] == "transcribe" and e["user"] == "alice" and "duration_ms" in e for e in events)
    for folder in (settings.data_dir, settings.audio_dir):
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in (".log", ".yaml", ".json", ".txt"):
                assert not _leaks(path.read_bytes()), path


def test_settings_never_show_the_key(tmp_path):
    settings = load_settings(secrets_file=None, data_dir=tmp_path, openai_api_key=KEY)
    for shown in (repr(settings), str(settings), settings.model_dump_json(), json.dumps(settings.model_dump(),
                                                                                          default=str)):  # fmt: skip
        assert KEY not in shown
    with pytest.raises(ConfigError) as info:
        load_settings(secrets_file=None, data_dir=tmp_path, openai_api_key=KEY, request_timeout_s="soon")
    assert KEY not in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_settings(secrets_file=None, openai_api_key=KEY, openai_base_url=f"ftp://{KEY}@example")
    assert KEY not in str(info.value)


def test_the_key_is_read_from_secrets_toml_and_the_environment_wins(tmp_path, monkeypatch):
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(f'OPENAI_API_KEY = "{KEY}"\n', encoding="utf-8")
    from_file = load_settings(secrets_file=secrets_file, data_dir=tmp_path)
    assert from_file.openai_api_key is not None and from_file.openai_api_key.get_secret_value() == KEY
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-0000")
    from_env = load_settings(secrets_file=secrets_file, data_dir=tmp_path)
    assert from_env.openai_api_key is not None and from_env.openai_api_key.get_secret_value() == "sk-from-env-0000"


def test_the_formatter_scrubs_keys_even_if_a_call_site_slips(tmp_path):
    settings = load_settings(secrets_file=None, data_dir=tmp_path, openai_api_key="custom-secret-value-42")
    out = io.StringIO()
    handler = configure_logging(settings, out)
    try:
        log = logging.getLogger("core.test_secrets")
        log.warning("calling with %s and sk-proj-abcdefghijklmnop", "custom-secret-value-42")
        log.warning("header", extra={"authorization": "Bearer abcdefghijklmnopqrstuvwxyz"})
        try:
            raise RuntimeError("failed with key sk-live-1234567890")
        except RuntimeError:
            log.exception("boom")
    finally:
        logging.getLogger().removeHandler(handler)
    text = out.getvalue()
    assert "custom-secret-value-42" not in text and "sk-proj-abc" not in text and "sk-live-123" not in text
    assert "abcdefghijklmnopqrstuvwxyz" not in text and text.count(REDACTED) >= 4
    assert all(json.loads(line)["level"] == "WARNING" or "boom" in line for line in text.splitlines())
    assert Redactor(["short"])("short text") == "short text"  # too short to be a secret: left alone
