"""One typed Settings object, built once from the environment and secrets.toml; nothing else reads env."""

from __future__ import annotations

import contextlib
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError

ProviderName = Literal["mock", "local", "openai"]
SECRETS_FILE = Path(".streamlit/secrets.toml")


class Settings(BaseSettings):
    """Everything configurable, with embedded defaults that make `make run` work on a bare machine."""

    model_config = SettingsConfigDict(
        env_prefix="WORKBENCH_", extra="ignore", frozen=True, validate_by_name=True, validate_by_alias=True
    )

    data_dir: Path = Path("data")
    database_url: str | None = None
    max_upload_mb: int = Field(500, gt=0, le=10_000)
    max_duration_s: float = Field(4 * 3600, gt=0, le=48 * 3600)
    provider: ProviderName | None = Field(
        None, validation_alias=AliasChoices("WORKBENCH_PROVIDER", "WORKBENCH_DEFAULT_PROVIDER")
    )
    local_model: str | None = None
    local_threads: int = Field(0, ge=0, le=64)

    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "WORKBENCH_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "WORKBENCH_OPENAI_BASE_URL")
    )
    openai_model: str = "gpt-transcribe"
    summary_model: str = "gpt-5.4-mini"
    openai_concurrency: int = Field(4, ge=1, le=32)
    request_timeout_s: float = Field(120.0, gt=0, le=3600)
    retry_total_s: float = Field(300.0, gt=0, le=7200)
    breaker_failures: int = Field(5, ge=1, le=100)
    breaker_cooldown_s: float = Field(60.0, gt=0, le=3600)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Background jobs. Without redis_url the queue is a SQLite file under data_dir and the app runs
    # the consumer; with it, jobs go through Redis and `python -m core worker` processes run them.
    redis_url: str | None = None
    jobs_max_per_user: int = Field(2, ge=1, le=100)  # running at once per user; the rest wait their turn
    jobs_max_total: int = Field(4, ge=1, le=1000)  # running at once across all users and workers
    workers: int = Field(2, ge=0, le=64)  # consumer threads (embedded consumer and `core worker`)
    job_poll_s: float = Field(2.0, gt=0, le=60)  # page refresh, heartbeat and cancel-check interval
    # Plug-in point: "module:attr" naming a callable (provider_name, settings) -> Provider that the
    # job runner uses instead of the built-in registry (a custom or self-hosted backend).
    provider_factory: str | None = None

    admin_password: SecretStr | None = None  # first run only: the password of the created `admin`
    cookie_key: SecretStr | None = None  # signs the login cookie; ≥ 32 bytes, else one is generated

    # Quotas (0 = no limit): per user, transcriptions started in any 60 s, and jobs queued or running at once.
    rate_transcriptions_per_minute: int = Field(30, ge=0, le=10_000)
    rate_max_active_jobs: int = Field(20, ge=0, le=10_000)
    alert_webhook_url: str | None = None  # budget alerts (80 % / 100 %) are POSTed here as JSON when set
    log_format: Literal["json", "text"] = "json"  # json: one line per event with job id, user and duration

    @field_validator("alert_webhook_url")
    @classmethod
    def _webhook_is_http(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value or None

    @field_validator("openai_base_url")
    @classmethod
    def _base_url_is_http(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value or None

    @field_validator("redis_url")
    @classmethod
    def _redis_url_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value or None

    @field_validator("provider_factory")
    @classmethod
    def _factory_is_module_attr(cls, value: str | None) -> str | None:
        if value and (value.count(":") != 1 or not all(value.split(":"))):
            raise ValueError("must look like package.module:callable")
        return value or None

    @field_validator("openai_api_key")
    @classmethod
    def _blank_key_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value and value.get_secret_value().strip() else None

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL: the override, or SQLite under the data dir."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'workbench.db').resolve()}"

    @property
    def audio_dir(self) -> Path:
        return self.data_dir / "audio"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def default_provider(self) -> ProviderName:
        """`openai` when a key is set, else `local` — unless chosen explicitly."""
        if self.provider:
            return self.provider
        return "openai" if self.openai_api_key else "local"

    def ensure_dirs(self) -> None:
        """Create the runtime folders private to this account (0700; files made after this are 0600)."""
        # Audio, transcripts, the database and keys live here: no other account on the machine may read
        # them. The umask covers every file the process creates later (SQLite, uploads, exports, keys).
        os.umask(os.umask(0o077) | 0o077)
        for folder in (self.data_dir, self.audio_dir, self.tmp_dir):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(OSError):  # a folder we do not own (a mounted volume) stays as it is
                if folder.stat().st_uid == os.getuid():
                    folder.chmod(0o700)


def _read_secrets(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    # secrets.toml uses the environment's names (OPENAI_API_KEY, WORKBENCH_DATA_DIR, ...).
    return {k.lower().removeprefix("workbench_"): v for k, v in raw.items() if not isinstance(v, dict)}


def load_settings(secrets_file: Path | None = SECRETS_FILE, **overrides: Any) -> Settings:
    """Build Settings from env (+ secrets.toml, + explicit overrides); one clear sentence on a bad value."""
    import os

    merged: dict[str, Any] = {}
    if secrets_file is not None:
        for key, value in _read_secrets(secrets_file).items():
            if key.upper() not in os.environ and f"WORKBENCH_{key.upper()}" not in os.environ:
                merged[key] = value
    merged.update(overrides)
    try:
        return Settings(**merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "settings"
        env_name = field.upper() if field.upper().startswith("OPENAI") else f"WORKBENCH_{field.upper()}"
        raise ConfigError(f"Setting {env_name} is invalid: {err['msg']}.") from None
