"""job progress columns: display name, live text, chunk counters, heartbeat

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("display_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("partial_text", sa.Text(), nullable=True))
        batch.add_column(sa.Column("chunks_done", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("chunks_total", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        for name in ("heartbeat_at", "attempts", "chunks_total", "chunks_done", "partial_text", "display_name"):
            batch.drop_column(name)
