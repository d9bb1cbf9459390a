"""The web server starts its job consumer itself (issue 10, item 23): a queued job runs with nobody signed in."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import REPO_ROOT, cli_env

SPEECH = REPO_ROOT / "tests" / "fixtures" / "fmt_speech.wav"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _jobs(env: dict[str, str]) -> list[dict[str, object]]:
    out = subprocess.run(
        [sys.executable, "-m", "core", "jobs", "--json"], env=env, cwd=REPO_ROOT, capture_output=True, check=True
    )
    return list(json.loads(out.stdout))


def test_a_cli_background_job_runs_without_anyone_opening_the_app(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data", WORKBENCH_PROVIDER="mock", WORKBENCH_JOB_POLL_S="0.5")
    queued = subprocess.run(
        [sys.executable, "-m", "core", "transcribe", str(SPEECH), "--background"],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    job = json.loads(queued.stdout)["job"]
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "ui.serve", "--server.address", "127.0.0.1", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        state = None
        while time.monotonic() < deadline and state != "done":
            time.sleep(0.5)
            state = next(j["state"] for j in _jobs(env) if j["id"] == job)
        assert state == "done", (tmp_path / "server.log").read_text(errors="replace")[-2000:]
        # The same process goes on to serve the app (no browser ever connects in this test).
        healthy = False
        while time.monotonic() < deadline and not healthy:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as answer:
                    healthy = answer.status == 200
            except OSError:
                time.sleep(0.5)
        assert healthy and server.poll() is None
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
