"""Initial schema: snapshot tables, resource state and the outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger()
_TS = sa.DateTime(timezone=True)


def _bookkeeping() -> list[sa.Column[object]]:
    return [
        sa.Column("first_seen_at", _TS, nullable=False),
        sa.Column("bridge_updated_at", _TS, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
    ]


def _snapshot_tables() -> None:
    op.create_table(
        "users",
        sa.Column("id", _ID, primary_key=True, autoincrement=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("email", sa.Text()),
        sa.Column("public_email", sa.Text()),
        sa.Column("is_admin", sa.Boolean()),
        sa.Column("external", sa.Boolean()),
        sa.Column("bot", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS),
        sa.Column("web_url", sa.Text(), nullable=False),
        sa.Column("avatar_url", sa.Text()),
        *_bookkeeping(),
    )
    op.create_table(
        "groups",
        sa.Column("id", _ID, primary_key=True, autoincrement=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("full_path", sa.Text(), nullable=False),
        sa.Column("full_name", sa.Text(), nullable=False),
        sa.Column("parent_id", _ID),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("created_at", _TS),
        sa.Column("web_url", sa.Text(), nullable=False),
        sa.Column("avatar_url", sa.Text()),
        *_bookkeeping(),
    )
    op.create_table(
        "projects",
        sa.Column("id", _ID, primary_key=True, autoincrement=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("path_with_namespace", sa.Text(), nullable=False),
        sa.Column("namespace_id", _ID, nullable=False),
        sa.Column("namespace_name", sa.Text(), nullable=False),
        sa.Column("namespace_path", sa.Text(), nullable=False),
        sa.Column("namespace_kind", sa.String(16), nullable=False),
        sa.Column("namespace_full_path", sa.Text(), nullable=False),
        sa.Column("namespace_parent_id", _ID),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("default_branch", sa.Text()),
        sa.Column("topics", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS),
        sa.Column("owner_id", _ID),
        sa.Column("web_url", sa.Text(), nullable=False),
        *_bookkeeping(),
    )


def _link_tables() -> None:
    op.create_table(
        "members",
        sa.Column("source_kind", sa.String(16), primary_key=True),
        sa.Column("source_id", _ID, primary_key=True, autoincrement=False),
        sa.Column("user_id", _ID, primary_key=True, autoincrement=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("access_level", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Date()),
        sa.Column("created_at", _TS),
        sa.Column("member_role", sa.Text()),
        *_bookkeeping(),
    )
    op.create_index("ix_members_user", "members", ["user_id"])
    op.create_table(
        "shares",
        sa.Column("source_kind", sa.String(16), primary_key=True),
        sa.Column("source_id", _ID, primary_key=True, autoincrement=False),
        sa.Column("group_id", _ID, primary_key=True, autoincrement=False),
        sa.Column("group_name", sa.Text(), nullable=False),
        sa.Column("group_full_path", sa.Text()),
        sa.Column("access_level", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Date()),
        *_bookkeeping(),
    )
    op.create_index("ix_shares_group", "shares", ["group_id"])


def _bookkeeping_tables() -> None:
    op.create_table(
        "resource_state",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("baseline_at", _TS),
        sa.Column("last_complete_at", _TS),
        sa.Column("last_attempt_at", _TS),
        sa.Column("watermark", sa.Text()),
        sa.Column("last_requests", sa.Integer()),
        sa.Column("last_error", sa.Text()),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("event_uuid", sa.String(36), nullable=False),
        sa.Column("receiver", sa.Text(), nullable=False),
        sa.Column("hook", sa.Text(), nullable=False),
        sa.Column("event_name", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("delivered_at", _TS),
        sa.UniqueConstraint("receiver", "idempotency_key", name="uq_outbox_receiver_key"),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'dead')", name="ck_outbox_status"
        ),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_receiver", "outbox", ["receiver", "id"])


def upgrade() -> None:
    """Create every table of the first schema."""
    _snapshot_tables()
    _link_tables()
    _bookkeeping_tables()


def downgrade() -> None:
    """Drop every table of the first schema."""
    for name in ("outbox", "resource_state", "shares", "members", "projects", "groups", "users"):
        op.drop_table(name)
