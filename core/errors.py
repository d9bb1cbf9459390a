"""The error tree every layer speaks; each error carries a sentence a non-engineer understands."""

from __future__ import annotations

import contextlib
import logging

_LOGGED = "_workbench_logged"


class WorkbenchError(Exception):
    """Base of all errors we expect; `str(err)` is safe to show a user."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(WorkbenchError):
    """A setting has a bad value; raised at start-up."""


class InputError(WorkbenchError):
    """The user's input (a file, a field) is refused; nothing was stored."""

    exit_code = 2

    def __init__(self, message: str, *, filename: str | None = None) -> None:
        super().__init__(f"{filename}: {message}" if filename else message)
        self.filename = filename
        self.reason = message


class EditConflict(InputError):
    """An edit started from an older revision than the one stored now; it was not saved over it."""

    def __init__(self, base_revision: int, current_revision: int) -> None:
        super().__init__(
            f"Someone saved revision {current_revision} after you started editing revision {base_revision}, "
            "so your edit was not saved over theirs. Both texts are below: keep yours, then apply it again "
            "to the newest revision."
        )
        self.base_revision = base_revision
        self.current_revision = current_revision


class ProviderError(WorkbenchError):
    """A transcription/summary provider failed."""

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        status_code: int | None = None,
        request_id: str | None = None,
        code: str | None = None,
    ) -> None:
        if request_id:
            message = f"{message} (request id {request_id})"
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code
        self.request_id = request_id
        self.code = code


class Cancelled(WorkbenchError):
    """A user or a stopping worker asked the work to stop; nothing failed, finished parts are kept."""

    exit_code = 3  # what a cancelled run exited with while it was a ProviderError; scripts may rely on it


class ProviderUnavailable(ProviderError):
    """The circuit breaker is open: calls fail fast until the next probe."""


class QuotaError(WorkbenchError):
    """A budget or rate limit refuses the call; nothing was sent or charged."""

    exit_code = 4


class NotFoundError(WorkbenchError):
    """Missing, or not visible to this user: both answer the same way on purpose."""

    exit_code = 5


class NotPermitted(InputError):
    """Visible to this user but not theirs to change (a reader of a share); scripts see exit 5, as for missing."""

    exit_code = 5


class StorageError(WorkbenchError):
    """The database or the audio store failed."""


def log_unexpected(logger: logging.Logger, exc: BaseException, message: str, *args: object) -> None:
    """Log an unexpected exception once, with its traceback; the log only, never a user's screen."""
    if getattr(exc, _LOGGED, False):  # an inner layer logged it; one traceback per failure is enough
        return
    logger.error(message, *args, exc_info=exc)
    with contextlib.suppress(AttributeError):  # a type with __slots__: a second log line is the worst case
        setattr(exc, _LOGGED, True)
