"""Monthly budgets (per user and team-wide, in USD and audio minutes), per-user rate limits, budget alerts.

A period is the calendar month in UTC. What is left = limit − (this month's ledger rows with status ok that
were not cache hits) − (holds of paid calls still running). The user's and the team's limits both apply;
the tighter wins. Check + hold run in one transaction that first bumps the team budget row: that write
serialises every check across threads and processes (SQLite's writer lock, a row lock elsewhere), so two
requests can never both pass when only one fits. A hold is released once the call's charge is in the ledger.
"""

from core.billing.quotas.alerts import THRESHOLDS, AlertRecord, check_alerts, list_alerts, user_alerts
from core.billing.quotas.budget import check_budget, hold, set_team_budget, set_user_budget, team_budget
from core.billing.quotas.rates import admit_job, check_active_jobs, check_active_jobs_in, check_rate
from core.billing.quotas.status import (
    HOLD_TTL,
    TEAM,
    Allowance,
    BudgetStatus,
    budget_status,
    lock,
    month_start,
    period_of,
)

__all__ = [
    "HOLD_TTL",
    "TEAM",
    "THRESHOLDS",
    "AlertRecord",
    "Allowance",
    "BudgetStatus",
    "admit_job",
    "budget_status",
    "check_active_jobs",
    "check_active_jobs_in",
    "check_alerts",
    "check_budget",
    "check_rate",
    "hold",
    "list_alerts",
    "lock",
    "month_start",
    "period_of",
    "set_team_budget",
    "set_user_budget",
    "team_budget",
    "user_alerts",
]
