"""Delivery: outbox leases and wire fields, attempts, circuit breaker state.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Add the delivery columns and tables; rows queued before keep working."""
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("instance_url", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("gitlab_version", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("gitlab_event_uuid", sa.String(36), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("enqueued_at", _TS))
        batch.add_column(sa.Column("claimed_until", _TS))
        batch.add_column(sa.Column("claimed_by", sa.Text()))
        batch.add_column(sa.Column("last_status_code", sa.Integer()))
        batch.create_index("ix_outbox_subject", ["receiver", "subject", "id"])
    op.execute("UPDATE outbox SET enqueued_at = created_at, gitlab_event_uuid = event_uuid")
    op.create_table(
        "delivery_attempts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("outbox_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("webhook_uuid", sa.String(36), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("error", sa.Text()),
        sa.Column("response_body", sa.Text()),
        sa.Column("outcome", sa.String(16), nullable=False),
    )
    op.create_index("ix_attempts_outbox", "delivery_attempts", ["outbox_id", "id"])
    op.create_table(
        "receivers",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("circuit", sa.String(8), nullable=False),
        sa.Column("probe_at", _TS),
        sa.Column("probe_interval", sa.Float(), nullable=False),
        sa.Column("changed_at", _TS, nullable=False),
    )


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_table("receivers")
    op.drop_index("ix_attempts_outbox", table_name="delivery_attempts")
    op.drop_table("delivery_attempts")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_subject")
        for column in (
            "last_status_code",
            "claimed_by",
            "claimed_until",
            "enqueued_at",
            "gitlab_event_uuid",
            "gitlab_version",
            "instance_url",
        ):
            batch.drop_column(column)
