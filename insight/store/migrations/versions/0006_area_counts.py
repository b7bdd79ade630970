"""Pre-aggregated counts of points per area, month, category and asset kind.

One row per point layer x boundary layer x area x month x category x asset kind
(rows without a boundary layer count the whole layer). Filled here from the tags
already stored, so an upgraded database needs no reload.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "area_counts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("point_layer_id", sa.Integer(), nullable=False),
        sa.Column("boundary_layer_id", sa.Integer(), nullable=True),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("month", sa.String(length=7), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("asset_kind", sa.String(length=30), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["point_layer_id"], ["layers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["boundary_layer_id"], ["layers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_area_counts_pair", "area_counts", ["point_layer_id", "boundary_layer_id", "month"])
    op.create_index("ix_area_counts_area", "area_counts", ["area_id"])
    from insight.store.counts import recount_all

    recount_all(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_area_counts_area", table_name="area_counts")
    op.drop_index("ix_area_counts_pair", table_name="area_counts")
    op.drop_table("area_counts")
