"""The usage ledger: every provider call and every cache hit becomes one row, written at once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from core.db.models import UsageEvent
from core.providers.base import CallRecord


@dataclass(frozen=True)
class LedgerContext:
    """Who and what a call belongs to, fixed for one use case."""

    user_id: int | None
    provider: str
    file_name: str | None = None
    transcript_id: int | None = None
    job_id: int | None = None


def record_call(sm: sessionmaker[Session], ctx: LedgerContext, call: CallRecord) -> None:
    """Write one provider call to the ledger in its own transaction, so nothing later can lose it."""
    with sm.begin() as s:
        s.add(
            UsageEvent(
                user_id=ctx.user_id,
                transcript_id=ctx.transcript_id,
                job_id=ctx.job_id,
                provider=ctx.provider,
                model=call.model,
                operation=call.operation,
                audio_seconds=call.audio_seconds,
                input_tokens=call.input_tokens,
                output_tokens=call.output_tokens,
                cost_usd=call.cost_usd,
                list_cost_usd=call.list_cost_usd,
                cached=False,
                saved_usd=0.0,
                latency_ms=call.latency_ms,
                status=call.status,
                error=call.error,
                estimated=call.estimated,
                unpriced=call.unpriced,
                request_id=call.request_id,
                file_name=ctx.file_name,
            )
        )


def record_cache_hit(
    sm: sessionmaker[Session],
    ctx: LedgerContext,
    *,
    model: str,
    audio_seconds: float,
    saved_usd: float,
    transcript_id: int,
) -> None:
    """A cache hit: no call, $0 charged, and the money it saved."""
    with sm.begin() as s:
        s.add(
            UsageEvent(
                user_id=ctx.user_id,
                transcript_id=transcript_id,
                job_id=ctx.job_id,
                provider=ctx.provider,
                model=model,
                operation="transcribe",
                audio_seconds=audio_seconds,
                cost_usd=0.0,
                list_cost_usd=0.0,
                cached=True,
                saved_usd=saved_usd,
                latency_ms=0,
                status="ok",
                file_name=ctx.file_name,
            )
        )


class RunCosts:
    """Collects this run's calls: writes each to the ledger and keeps the sum for the caller."""

    def __init__(self, sm: sessionmaker[Session], ctx: LedgerContext) -> None:
        self._sm, self.ctx = sm, ctx
        self.calls: list[CallRecord] = []

    def __call__(self, call: CallRecord) -> None:
        record_call(self._sm, self.ctx, call)
        self.calls.append(call)

    @property
    def cost_usd(self) -> float:
        return sum(c.cost_usd for c in self.calls)

    @property
    def list_cost_usd(self) -> float:
        return sum(c.list_cost_usd for c in self.calls if c.status == "ok")
