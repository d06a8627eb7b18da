"""Access requests: pending requesters of groups and projects (``poll.access_requests``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger()
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the table: the members table's columns, as GitLab keeps requests as member rows."""
    op.create_table(
        "access_requests",
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
        sa.Column("first_seen_at", _TS, nullable=False),
        sa.Column("bridge_updated_at", _TS, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
    )
    op.create_index("ix_access_requests_user", "access_requests", ["user_id"])


def downgrade() -> None:
    """Drop the table."""
    op.drop_index("ix_access_requests_user", table_name="access_requests")
    op.drop_table("access_requests")
