"""Uploads keep their kind and the result of their check, so a commit need not read the file again.

``kind`` is ``asset`` or ``survey`` (survey files were told apart by their report until now,
and are marked from it here). ``checked`` holds the checked records a commit writes; an
upload staged before this revision has none, and committing it asks for the file again.
On SpatiaLite the columns are added and dropped with plain ALTER TABLE (SQLite 3.35+), as in 0003.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("uploads", sa.Column("kind", sa.String(length=20), server_default="asset", nullable=False))
    op.add_column("uploads", sa.Column("checked", JSON, nullable=True))
    uploads = sa.table("uploads", sa.column("id", sa.Integer()), sa.column("kind", sa.String()),
                       sa.column("report", JSON))
    bind = op.get_bind()
    surveys = [row.id for row in bind.execute(sa.select(uploads.c.id, uploads.c.report))
               if (row.report or {}).get("kind") == "survey"]
    if surveys:
        bind.execute(sa.update(uploads).where(uploads.c.id.in_(surveys)).values(kind="survey"))


def downgrade() -> None:
    op.drop_column("uploads", "checked")
    op.drop_column("uploads", "kind")
