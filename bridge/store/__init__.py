"""State store: snapshot tables, resource state and the outbox, written in one transaction.

store = Store.open("sqlite:///state/bridge.db")      # migrates; refuses a newer schema
with store.transaction() as tx:                      # all or nothing
    tx.upsert_users(users, observed_at)
    tx.enqueue(outbox_rows)
"""

from __future__ import annotations

from bridge.model.ledger import OutboxRecord, OutboxRow, OutboxStatus, ResourceState, RowMeta
from bridge.store.engine import DEFAULT_URL, redact
from bridge.store.migrate import current_revision, head_revision, upgrade
from bridge.store.store import Store
from bridge.store.transaction import Transaction

__all__ = [
    "DEFAULT_URL",
    "OutboxRecord",
    "OutboxRow",
    "OutboxStatus",
    "ResourceState",
    "RowMeta",
    "Store",
    "Transaction",
    "current_revision",
    "head_revision",
    "redact",
    "upgrade",
]
