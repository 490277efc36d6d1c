"""Room for long worker ids: ``jobs.lease_owner`` grows from 64 to 255 characters.

A worker's id is ``host:pid:suffix``, and a host name alone may have 253 characters; PostgreSQL
refused such a claim. (SQLite does not enforce lengths; the table is rebuilt there all the same,
so both databases describe the same schema.)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Widens ``jobs.lease_owner`` to 255 characters."""
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("lease_owner", existing_type=sa.String(64), type_=sa.String(255), existing_nullable=True)


def downgrade() -> None:
    """Narrows ``jobs.lease_owner`` back to 64 characters (longer owners are cut)."""
    op.execute(sa.text("UPDATE jobs SET lease_owner = substr(lease_owner, 1, 64) WHERE length(lease_owner) > 64"))
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("lease_owner", existing_type=sa.String(255), type_=sa.String(64), existing_nullable=True)
