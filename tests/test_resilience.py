"""The retry policy and the circuit breaker, on a fake clock: no real sleeping."""

from __future__ import annotations

import email.utils
import time

import pytest

from core.errors import ProviderError, ProviderUnavailable
from core.providers.resilience import (
    CircuitBreaker,
    RetryPolicy,
    TransientError,
    breaker_for,
    call_with_retries,
    is_retryable_status,
    retry_after_seconds,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def flaky(failures: list[BaseException], result: str = "ok") -> tuple[list[int], object]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return result

    return calls, fn


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after-ms": "100", "retry-after": "9"}, 0.1),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers) == expected


def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert retry_after_seconds({"retry-after": when}) == pytest.approx(30, abs=2)


@pytest.mark.parametrize(
    ("status", "retry"),
    [
        (408, True),
        (409, True),
        (429, True),
        (500, True),
        (503, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (422, False),
    ],
)
def test_retryable_statuses(status: int, retry: bool) -> None:
    assert is_retryable_status(status) is retry


def test_transient_errors_are_retried_until_success() -> None:
    clock = Clock()
    calls, fn = flaky([TransientError("x", status_code=503), TransientError("y", code="timeout")])
    breaker = CircuitBreaker("OpenAI", failures=5, clock=clock)
    assert call_with_retries(fn, policy=RetryPolicy(initial_s=0.5), breaker=breaker, sleep=clock.sleep) == "ok"  # type: ignore[arg-type]
    assert len(calls) == 3
    assert len(clock.slept) == 2 and clock.slept[1] > clock.slept[0] * 1.2  # exponential


def test_permanent_errors_are_not_retried() -> None:
    clock = Clock()
    calls, fn = flaky([ProviderError("bad request", status_code=400)])
    with pytest.raises(ProviderError, match="bad request"):
        call_with_retries(fn, policy=RetryPolicy(), breaker=CircuitBreaker("x", clock=clock), sleep=clock.sleep)  # type: ignore[arg-type]
    assert len(calls) == 1 and clock.slept == []


def test_attempts_are_bounded() -> None:
    clock = Clock()
    calls, fn = flaky([TransientError("down", status_code=500) for _ in range(10)])
    with pytest.raises(TransientError):
        call_with_retries(
            fn,
            policy=RetryPolicy(max_attempts=3),
            breaker=CircuitBreaker("x", failures=99, clock=clock),
            sleep=clock.sleep,
        )  # type: ignore[arg-type]
    assert len(calls) == 3


def test_retry_after_is_honoured_and_total_time_is_bounded() -> None:
    clock = Clock()
    calls, fn = flaky([TransientError("slow down", status_code=429, retry_after_s=2.0)])
    breaker = CircuitBreaker("x", clock=clock)
    assert call_with_retries(fn, policy=RetryPolicy(), breaker=breaker, sleep=clock.sleep) == "ok"  # type: ignore[arg-type]
    assert 2.0 <= clock.slept[0] <= 2.2
    # A wait that would overrun the budget is not slept at all: fail now.
    calls, fn = flaky([TransientError("slow down", status_code=429, retry_after_s=120.0)])
    with pytest.raises(TransientError):
        call_with_retries(fn, policy=RetryPolicy(total_s=60), breaker=breaker, sleep=clock.sleep)  # type: ignore[arg-type]
    assert len(calls) == 1 and len(clock.slept) == 1


def test_breaker_opens_fails_fast_then_probes() -> None:
    clock = Clock()
    breaker = CircuitBreaker("OpenAI", failures=3, cooldown_s=60, clock=clock, wall=lambda: 0.0)
    for _ in range(3):
        breaker.record(outage=True)
    assert breaker.state == "open"
    with pytest.raises(ProviderUnavailable, match=r"OpenAI is not answering; next try at \d\d:\d\d:\d\d") as info:
        breaker.before_call()
    assert info.value.retryable is False
    clock.now += 61
    breaker.before_call()  # the one probe goes through...
    with pytest.raises(ProviderUnavailable):
        breaker.before_call()  # ...and others wait for it
    breaker.record(outage=True)  # the probe failed: open again
    assert breaker.state == "open"
    clock.now += 61
    breaker.before_call()
    breaker.record(outage=False)  # the probe succeeded: closed
    assert breaker.state == "closed"
    breaker.before_call()


def test_breaker_counts_only_consecutive_outages() -> None:
    breaker = CircuitBreaker("x", failures=2)
    breaker.record(outage=True)
    breaker.record(outage=False)
    breaker.record(outage=True)
    assert breaker.state == "closed"


def test_breaker_call_classifies_errors() -> None:
    breaker = CircuitBreaker("x", failures=1)
    with pytest.raises(TransientError):
        breaker.call(lambda: (_ for _ in ()).throw(TransientError("rate", status_code=429)))
    assert breaker.state == "closed"  # a 429 is an answer, not an outage
    with pytest.raises(ProviderError):
        breaker.call(lambda: (_ for _ in ()).throw(ProviderError("bad", status_code=400)))
    assert breaker.state == "closed"
    with pytest.raises(TransientError):
        breaker.call(lambda: (_ for _ in ()).throw(TransientError("reset", code="connection")))
    assert breaker.state == "open"


def test_open_breaker_stops_the_retry_loop() -> None:
    clock = Clock()
    calls, fn = flaky([TransientError("down", status_code=503) for _ in range(10)])
    breaker = CircuitBreaker("OpenAI", failures=2, cooldown_s=60, clock=clock)
    with pytest.raises(ProviderUnavailable):
        call_with_retries(fn, policy=RetryPolicy(max_attempts=6), breaker=breaker, sleep=clock.sleep)  # type: ignore[arg-type]
    assert len(calls) == 2


def test_breakers_are_shared_per_provider_and_url() -> None:
    a = breaker_for("openai", "http://a/v1", label="A", failures=3, cooldown_s=10)
    assert breaker_for("openai", "http://a/v1", label="A", failures=3, cooldown_s=10) is a
    assert breaker_for("openai", "http://b/v1", label="B", failures=3, cooldown_s=10) is not a
