"""Alembic environment: runs on the connection that :func:`app.core.storage.db.upgrade_schema` opened."""

from __future__ import annotations

from alembic import context

from app.core.storage.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them; batch mode does that safely
)
with context.begin_transaction():
    context.run_migrations()
