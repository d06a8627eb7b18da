"""Alembic environment: runs on the connection the bridge hands over (see bridge.store.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from bridge.store.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("bridge migrations run through bridge.store.migrate, not the alembic CLI")
_run(connection)
