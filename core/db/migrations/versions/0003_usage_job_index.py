"""index usage_events.job_id: the jobs list sums each job's cost on every page poll

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_usage_events_job_id", "usage_events", ["job_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_usage_events_job_id", table_name="usage_events")
