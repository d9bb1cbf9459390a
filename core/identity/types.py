"""The plain user record that leaves the storage layer."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("admin", "member")


@dataclass(frozen=True)
class UserRecord:
    id: int
    name: str
    role: str
    active: bool = True
    monthly_usd_budget: float | None = None
    monthly_minutes_budget: float | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
