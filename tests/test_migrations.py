"""Migrations: an empty database migrates to head, back down, and up again."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect, text

from core.db.engine import alembic_config, current_revision, head_revision, make_engine, migrate
from core.db.models import Base


def test_empty_database_migrates_to_head_and_matches_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate(url)
    engine = make_engine(url)
    assert current_revision(engine) == head_revision(url)
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "transcripts_fts" in tables
    for name, table in Base.metadata.tables.items():
        cols = {c["name"] for c in inspect(engine).get_columns(name)}
        assert {c.name for c in table.columns} <= cols, name
    engine.dispose()


def test_downgrade_to_base_and_up_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate(url)
    command.downgrade(alembic_config(url), "base")
    engine = make_engine(url)
    assert "transcripts" not in inspect(engine).get_table_names()
    migrate(url)
    assert current_revision(engine) == head_revision(url)
    engine.dispose()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_fts_index_follows_inserts_updates_and_deletes(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (name, role, active, is_demo, created_at) VALUES ('u', 'member', 1, 0, '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO transcripts (owner_id, display_name, provider, model, text, segments, speaker_names,"
                " tags, duration_s, revision, is_demo, created_at, updated_at) VALUES (1, 'f', 'mock', 'm',"
                " 'alpha beta', '[]', '{}', '[]', 1, 1, 0, '2026-01-01', '2026-01-01')"
            )
        )

    def hits(word: str) -> int:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT count(*) FROM transcripts_fts WHERE transcripts_fts MATCH :w"), {"w": word}
            ).scalar()

    assert hits("alpha") == 1
    with engine.begin() as conn:
        conn.execute(text("UPDATE transcripts SET text = 'gamma' WHERE id = 1"))
    assert (hits("alpha"), hits("gamma")) == (0, 1)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM transcripts WHERE id = 1"))
    assert hits("gamma") == 0
    engine.dispose()


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_models_and_a_database_migrated_to_head_do_not_differ(tmp_path):
    # What `alembic revision --autogenerate` would draft: nothing, server defaults included,
    # and never a DROP of the search index (env.py's include_object filter).
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from core.db.engine import include_object

    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_server_default": True, "compare_type": True}
        )
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def test_the_filter_keeps_the_search_index_out_of_autogenerate():
    from core.db.engine import include_object

    assert not include_object(None, "transcripts_fts", "table", True, None)
    assert not include_object(None, "transcripts_fts_data", "table", True, None)
    assert include_object(None, "transcripts", "table", True, None)


def test_user_names_differing_only_in_case_are_merged_then_kept_unique(tmp_path):
    # Before 0005, `--user Alice` created a second account beside the web user `alice`.
    url = f"sqlite:///{tmp_path / 'w.db'}"
    command.upgrade(alembic_config(url), "0004")
    engine = make_engine(url)
    with engine.begin() as conn:
        for name in ("alice", "Alice", "bob"):
            conn.execute(
                text(
                    "INSERT INTO users (name, role, active, is_demo, created_at) "
                    " VALUES (:n, 'member', 1, 0, '2026-01-01')"
                ),
                {"n": name},
            )
        conn.execute(
            text(
                "INSERT INTO transcripts (owner_id, display_name, provider, model, text, segments, speaker_names,"
                " tags, duration_s, revision, is_demo, created_at, updated_at) VALUES (2, 'f', 'mock', 'm',"
                " 'made as Alice', '[]', '{}', '[]', 1, 1, 0, '2026-01-01', '2026-01-01')"
            )
        )
    migrate(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, name FROM users ORDER BY id")).all() == [(1, "alice"), (3, "bob")]
        assert conn.execute(text("SELECT owner_id FROM transcripts")).scalar() == 1
    with pytest.raises(sa_exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (name, role, active, is_demo, created_at) "
                " VALUES ('BOB', 'member', 1, 0, '2026-01-01')"
            )
        )
    engine.dispose()
