"""The one retry layer (tenacity) and a circuit breaker per provider + base URL."""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_before_delay
from tenacity.wait import wait_exponential_jitter

from core.errors import ProviderError, ProviderUnavailable

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({408, 409, 429})  # and every 5xx


class TransientError(ProviderError):
    """A failure worth another try: 408, 409, 429, 5xx, a timeout, a dropped connection, a garbled answer."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        code: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, retryable=True, status_code=status_code, request_id=request_id, code=code)
        self.retry_after_s = retry_after_s

    @property
    def is_outage(self) -> bool:
        """Whether this says the server is not answering (it counts toward opening the breaker)."""
        return self.status_code is None or self.status_code >= 500


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS or status >= 500


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The server's requested wait: `retry-after-ms`, else `retry-after` in seconds or as an HTTP date."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = lowered.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            if name == "retry-after":
                try:
                    when = email.utils.parsedate_to_datetime(value)
                except (TypeError, ValueError):
                    return None
                return max(0.0, when.timestamp() - time.time())
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, honouring Retry-After, bounded in attempts and in total time."""

    total_s: float = 300.0
    max_attempts: int = 6
    initial_s: float = 0.5
    max_backoff_s: float = 30.0

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = exc.retry_after_s if isinstance(exc, TransientError) else None
        if hinted is not None:
            return hinted + random.uniform(0, min(0.1 * hinted, 1.0))  # honour it; jitter spreads a herd
        backoff = wait_exponential_jitter(multiplier=self.initial_s, max=self.max_backoff_s, jitter=self.initial_s)
        return float(backoff(state))

    def retrying(self, sleep: Callable[[float], None] = time.sleep) -> Retrying:
        return Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, ProviderError) and e.retryable),
            # stop_before_delay also stops when the next wait would overrun the budget.
            stop=stop_after_attempt(self.max_attempts) | stop_before_delay(self.total_s),
            wait=self._wait,
            sleep=sleep,
            reraise=True,
        )


class CircuitBreaker:
    """After `failures` consecutive outages, fail fast for `cooldown_s`; then let one probe through."""

    def __init__(
        self,
        label: str,
        *,
        failures: int = 5,
        cooldown_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.label = label
        self.failures = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._consecutive = 0
        self._open_until: float | None = None
        self._probe_since: float | None = None

    @property
    def state(self) -> str:
        with self._lock:
            if self._open_until is None:
                return "closed"
            return "open" if self._clock() < self._open_until else "half-open"

    def before_call(self) -> None:
        """Raise ProviderUnavailable while open (or while the one probe is out); else let the call go."""
        with self._lock:
            if self._open_until is None:
                return
            now = self._clock()
            probe_stale = self._probe_since is not None and now - self._probe_since > self.cooldown_s
            if now >= self._open_until and (self._probe_since is None or probe_stale):
                self._probe_since = now  # this caller is the probe
                return
            retry_at = max(self._open_until, now + 1.0) if self._probe_since is not None else self._open_until
            at = datetime.fromtimestamp(self._wall() + (retry_at - now)).strftime("%H:%M:%S")
        raise ProviderUnavailable(f"{self.label} is not answering; next try at {at}.", code="circuit_open")

    def record(self, *, outage: bool) -> None:
        """Report an attempt's outcome: an outage counts toward opening; any answer closes the circuit."""
        with self._lock:
            self._probe_since = None
            if not outage:
                self._consecutive = 0
                self._open_until = None
                return
            self._consecutive += 1
            if self._open_until is not None or self._consecutive >= self.failures:
                self._open_until = self._clock() + self.cooldown_s

    def call(self, fn: Callable[[], T]) -> T:
        """Run one attempt through the breaker."""
        self.before_call()
        try:
            result = fn()
        except TransientError as err:
            self.record(outage=err.is_outage)
            raise
        except ProviderError:
            self.record(outage=False)  # the server answered (e.g. 400): it is up
            raise
        except BaseException:
            with self._lock:
                self._probe_since = None  # not the server's doing: say nothing, but free the probe slot
            raise
        self.record(outage=False)
        return result


_BREAKERS: dict[tuple[str, str], CircuitBreaker] = {}
_BREAKERS_LOCK = threading.Lock()


def breaker_for(provider: str, base_url: str, *, label: str, failures: int, cooldown_s: float) -> CircuitBreaker:
    """The process-wide breaker for one provider + base URL (providers built per request share it)."""
    with _BREAKERS_LOCK:
        breaker = _BREAKERS.get((provider, base_url))
        if breaker is None or (breaker.failures, breaker.cooldown_s) != (failures, cooldown_s):
            breaker = CircuitBreaker(label, failures=failures, cooldown_s=cooldown_s)
            _BREAKERS[(provider, base_url)] = breaker
        return breaker


def call_with_retries(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    breaker: CircuitBreaker,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Each attempt passes the breaker; retryable ProviderErrors are retried under `policy`."""
    result: T = policy.retrying(sleep)(breaker.call, fn)
    return result
