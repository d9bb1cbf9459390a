"""user names are unique whatever their letter case

Revision ID: 0005
Revises: 0004

`--user Alice` on the command line used to create a second account beside the web user `alice`. Users
whose names differ only in case are merged into the oldest one (its role and password stay; the others'
transcripts, jobs, usage, shares and holds move to it), each merge logged, then a unique index on
lower(name) keeps it so.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def _merge_case_duplicates(conn: sa.Connection) -> None:
    by_folded: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for user_id, name in conn.execute(sa.text("SELECT id, name FROM users ORDER BY id")):
        by_folded[name.lower()].append((user_id, name))
    inspector = sa.inspect(conn)
    references = [
        (table, fk["constrained_columns"][0])
        for table in inspector.get_table_names()
        for fk in inspector.get_foreign_keys(table)
        if fk["referred_table"] == "users" and len(fk["constrained_columns"]) == 1
    ]
    for group in by_folded.values():
        (keep_id, keep_name), *others = group
        for other_id, other_name in others:
            for table, column in references:
                if table == "shares":  # one share per (transcript, user): drop what would collide
                    conn.execute(
                        sa.text(
                            "DELETE FROM shares WHERE user_id = :other AND transcript_id IN "
                            "(SELECT transcript_id FROM shares WHERE user_id = :keep)"
                        ),
                        {"other": other_id, "keep": keep_id},
                    )
                conn.execute(
                    sa.text(f"UPDATE {table} SET {column} = :keep WHERE {column} = :other"),
                    {"keep": keep_id, "other": other_id},
                )
            conn.execute(sa.text("DELETE FROM users WHERE id = :other"), {"other": other_id})
            log.warning("merged user %r (id %s) into %r (id %s): names differ only in case",
                        other_name, other_id, keep_name, keep_id)  # fmt: skip


def upgrade() -> None:
    _merge_case_duplicates(op.get_bind())
    op.create_index("uq_users_name_folded", "users", [sa.text("lower(name)")], unique=True)


def downgrade() -> None:
    op.drop_index("uq_users_name_folded", table_name="users")
