"""The state store: snapshot tables, bookkeeping and the outbox, written in one transaction.

    store = Store.open("sqlite:///state/bridge.db")      # migrates; refuses a newer schema
    with store.transaction() as tx:                      # all or nothing
        tx.upsert_users(users, observed_at)
        tx.enqueue(outbox_rows)

SQLAlchemy Core on SQLite or PostgreSQL; nothing but ``bridge.model`` records crosses its edge.

Adapters: convert, deliveries, engine, leader, migrate, migrations, schema, store, transaction,
types, views
"""

from __future__ import annotations

from bridge.store.engine import DEFAULT_URL, redact
from bridge.store.migrate import current_revision, head_revision, upgrade
from bridge.store.store import Store
from bridge.store.transaction import Transaction

__all__ = [
    "DEFAULT_URL",
    "Store",
    "Transaction",
    "current_revision",
    "head_revision",
    "redact",
    "upgrade",
]
