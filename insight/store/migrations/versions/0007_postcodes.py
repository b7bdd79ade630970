"""Postcodes: the council's postcode file (NSPL, ONSPD or Code-Point Open) for lookups and search.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "postcodes",
        sa.Column("postcode", sa.String(length=8), nullable=False),
        sa.Column("display", sa.String(length=8), nullable=False),
        sa.Column("sector", sa.String(length=6), nullable=False),
        sa.Column("district", sa.String(length=4), nullable=False),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("introduced", sa.String(length=7), nullable=True),
        sa.Column("terminated", sa.String(length=7), nullable=True),
        sa.Column("authority", sa.String(length=9), nullable=True),
        sa.Column("ward", sa.String(length=9), nullable=True),
        sa.Column("lsoa", sa.String(length=9), nullable=True),
        sa.PrimaryKeyConstraint("postcode"),
    )
    op.create_index("ix_postcodes_sector", "postcodes", ["sector"])
    op.create_index("ix_postcodes_district", "postcodes", ["district"])


def downgrade() -> None:
    op.drop_index("ix_postcodes_district", table_name="postcodes")
    op.drop_index("ix_postcodes_sector", table_name="postcodes")
    op.drop_table("postcodes")
