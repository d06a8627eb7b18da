"""The outbox status ``failed`` becomes ``retrying``: it always meant "will be tried again".

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_CHECK = "ck_outbox_status"


def upgrade() -> None:
    """Rename the status in the rows and in the check constraint."""
    _swap("failed", "retrying")


def downgrade() -> None:
    """Back to ``failed``."""
    _swap("retrying", "failed")


def _swap(old: str, new: str) -> None:
    statuses = ", ".join(f"'{s}'" for s in ("pending", "delivered", new, "dead"))
    # SQLite cannot alter a constraint: batch mode copies the table with the new one.
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint(_CHECK, type_="check")
    op.execute(f"UPDATE outbox SET status = '{new}' WHERE status = '{old}'")  # noqa: S608 - constants
    with op.batch_alter_table("outbox") as batch:
        batch.create_check_constraint(_CHECK, f"status IN ({statuses})")
