"""Tables of the state database (SQLAlchemy Core); migrations create exactly these.

Snapshot tables are keyed by GitLab ids, never paths. Each snapshot row carries bookkeeping:
``first_seen_at`` (first sighting), ``bridge_updated_at`` (the derived ``updated_at``,
docs/payloads.md#record-timestamps) and ``revision`` (+1 per change; part of ``event_uuid``,
docs/events.md#event-identity).
"""

from __future__ import annotations

from typing import get_args

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from bridge.model.ledger import OutboxStatus
from bridge.store.types import UtcDateTime

metadata = MetaData()

# BIGINT on PostgreSQL; SQLite only auto-increments a column declared exactly INTEGER.
OutboxId = BigInteger().with_variant(Integer(), "sqlite")

BOOKKEEPING = ("first_seen_at", "bridge_updated_at", "revision")


def _bookkeeping() -> list[Column[object]]:
    return [
        Column("first_seen_at", UtcDateTime(), nullable=False),
        Column("bridge_updated_at", UtcDateTime(), nullable=False),
        Column("revision", Integer(), nullable=False),
    ]


def _member_row() -> list[Column[object]]:
    """A member row's columns (``Member``), with the bookkeeping: members and requesters."""
    return [
        Column("source_kind", String(16), primary_key=True),
        Column("source_id", BigInteger(), primary_key=True, autoincrement=False),
        Column("user_id", BigInteger(), primary_key=True, autoincrement=False),
        Column("username", Text(), nullable=False),
        Column("name", Text(), nullable=False),
        Column("state", Text(), nullable=False),
        Column("access_level", Integer(), nullable=False),
        Column("expires_at", Date()),
        Column("created_at", UtcDateTime()),
        Column("member_role", Text()),
        *_bookkeeping(),
    ]


users = Table(
    "users",
    metadata,
    Column("id", BigInteger(), primary_key=True, autoincrement=False),
    Column("username", Text(), nullable=False),
    Column("name", Text(), nullable=False),
    Column("state", Text(), nullable=False),
    Column("email", Text()),
    Column("public_email", Text()),
    Column("is_admin", Boolean()),
    Column("external", Boolean()),
    Column("bot", Boolean(), nullable=False),
    Column("created_at", UtcDateTime()),
    Column("web_url", Text(), nullable=False),
    Column("avatar_url", Text()),
    *_bookkeeping(),
)

groups = Table(
    "groups",
    metadata,
    Column("id", BigInteger(), primary_key=True, autoincrement=False),
    Column("name", Text(), nullable=False),
    Column("path", Text(), nullable=False),
    Column("full_path", Text(), nullable=False),
    Column("full_name", Text(), nullable=False),
    Column("parent_id", BigInteger()),
    Column("visibility", String(16), nullable=False),
    Column("created_at", UtcDateTime()),
    Column("web_url", Text(), nullable=False),
    Column("avatar_url", Text()),
    *_bookkeeping(),
)

projects = Table(
    "projects",
    metadata,
    Column("id", BigInteger(), primary_key=True, autoincrement=False),
    Column("name", Text(), nullable=False),
    Column("path", Text(), nullable=False),
    Column("path_with_namespace", Text(), nullable=False),
    Column("namespace_id", BigInteger(), nullable=False),
    Column("namespace_name", Text(), nullable=False),
    Column("namespace_path", Text(), nullable=False),
    Column("namespace_kind", String(16), nullable=False),
    Column("namespace_full_path", Text(), nullable=False),
    Column("namespace_parent_id", BigInteger()),
    Column("visibility", String(16), nullable=False),
    Column("archived", Boolean(), nullable=False),
    Column("description", Text()),
    Column("default_branch", Text()),
    Column("topics", Text(), nullable=False),  # JSON array of strings
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime()),  # GitLab's own, when the API exposes it
    Column("owner_id", BigInteger()),
    Column("web_url", Text(), nullable=False),
    *_bookkeeping(),
)

members = Table(
    "members",
    metadata,
    *_member_row(),
    Index("ix_members_user", "user_id"),
)

# Pending access requests (``poll.access_requests``): GitLab keeps them as member rows with
# ``requested_at`` set, so the columns are the members table's; ``created_at`` is the request's
# time and ``access_level`` the requested one (docs/events.md#access-requests).
access_requests = Table(
    "access_requests",
    metadata,
    *_member_row(),
    Index("ix_access_requests_user", "user_id"),
)

shares = Table(
    "shares",
    metadata,
    Column("source_kind", String(16), primary_key=True),
    Column("source_id", BigInteger(), primary_key=True, autoincrement=False),
    Column("group_id", BigInteger(), primary_key=True, autoincrement=False),
    Column("group_name", Text(), nullable=False),
    Column("group_full_path", Text()),
    Column("access_level", Integer(), nullable=False),
    Column("expires_at", Date()),
    *_bookkeeping(),
    Index("ix_shares_group", "group_id"),
)

# The last revision of a member or share row that was removed. A pair that comes back
# continues from it, so its events never reuse an earlier event id (docs/events.md#event-identity).
# Users, groups and projects need none: GitLab never reuses their ids.
tombstones = Table(
    "tombstones",
    metadata,
    Column("subject", Text(), primary_key=True),
    Column("revision", Integer(), nullable=False),
    Column("removed_at", UtcDateTime(), nullable=False),
)

resource_state = Table(
    "resource_state",
    metadata,
    Column("name", Text(), primary_key=True),
    Column("baseline_at", UtcDateTime()),
    Column("last_complete_at", UtcDateTime()),
    Column("last_attempt_at", UtcDateTime()),
    Column("watermark", Text()),
    Column("last_requests", Integer()),
    Column("last_error", Text()),
)

# One row per (event, receiver). ``status``: pending (not attempted yet, or redelivered),
# retrying (an attempt failed; the next is due at next_attempt_at), delivered, dead.
# ``enqueued_at`` starts the ``max_age`` clock (reset by a redelivery); ``claimed_until`` and
# ``claimed_by`` lease a row to one worker while it is in flight, so a crashed worker's row
# becomes claimable again when the lease runs out.
outbox = Table(
    "outbox",
    metadata,
    Column("id", OutboxId, primary_key=True, autoincrement=True),
    Column("event_uuid", String(36), nullable=False),
    Column("receiver", Text(), nullable=False),
    Column("hook", Text(), nullable=False),
    Column("event_name", Text(), nullable=False),
    Column("subject", Text(), nullable=False),
    Column("payload", Text(), nullable=False),
    Column("idempotency_key", Text(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("last_error", Text()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime()),
    Column("instance_url", Text(), nullable=False, server_default=""),
    Column("gitlab_version", Text(), nullable=False, server_default=""),
    Column("gitlab_event_uuid", String(36), nullable=False, server_default=""),
    Column("enqueued_at", UtcDateTime()),
    Column("claimed_until", UtcDateTime()),
    Column("claimed_by", Text()),
    Column("last_status_code", Integer()),
    UniqueConstraint("receiver", "idempotency_key", name="uq_outbox_receiver_key"),
    CheckConstraint(
        "status IN ({})".format(", ".join(f"'{s}'" for s in get_args(OutboxStatus))),
        name="ck_outbox_status",
    ),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_receiver", "receiver", "id"),
    Index("ix_outbox_subject", "receiver", "subject", "id"),
)

# Every attempt of every outbox row, kept until the row is purged.
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", OutboxId, primary_key=True, autoincrement=True),
    Column("outbox_id", BigInteger(), nullable=False),
    Column("number", Integer(), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("duration_ms", Integer(), nullable=False),
    Column("url", Text(), nullable=False),
    Column("webhook_uuid", String(36), nullable=False),
    Column("status_code", Integer()),
    Column("error", Text()),
    Column("response_body", Text()),
    Column("outcome", String(16), nullable=False),
    Index("ix_attempts_outbox", "outbox_id", "id"),
)

# Circuit breaker state per receiver; survives restarts and feeds ``status``.
receivers = Table(
    "receivers",
    metadata,
    Column("name", Text(), primary_key=True),
    Column("consecutive_failures", Integer(), nullable=False),
    Column("circuit", String(8), nullable=False),
    Column("probe_at", UtcDateTime()),
    Column("probe_interval", Float(), nullable=False),
    Column("changed_at", UtcDateTime(), nullable=False),
)
