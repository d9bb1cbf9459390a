"""Alembic environment: the URL comes from the caller, else from Settings."""

from __future__ import annotations

from alembic import context

from core.db.engine import include_object, make_engine
from core.db.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
if not url:
    from core.config import load_settings

    url = load_settings().db_url

engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=url.startswith("sqlite"),
        include_object=include_object,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
