"""Invitations keep when their link was issued, so an officer can send a new link that runs for the full time.

``users.invited_at`` is set when an invitation (or a new link for it) is made; an invitation made before this
revision has none and counts from the account's ``created_at``, as it did. On SpatiaLite the column is added
and dropped with plain ALTER TABLE (SQLite 3.35+), as in 0004.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-12
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("invited_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "invited_at")
