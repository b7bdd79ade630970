"""Feature tags: each point's area in every boundary layer, computed at load time.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_tags",
        sa.Column("boundary_layer_id", sa.Integer(), nullable=False),
        sa.Column("feature_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["boundary_layer_id"], ["layers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["feature_id"], ["features.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("boundary_layer_id", "feature_id"),
    )
    op.create_index("ix_feature_tags_area", "feature_tags", ["boundary_layer_id", "area_id"])
    # Cascading deletes look tags up by feature and by area: without these, each deleted row scans the table.
    op.create_index("ix_feature_tags_feature", "feature_tags", ["feature_id"])
    op.create_index("ix_feature_tags_area_id", "feature_tags", ["area_id"])


def downgrade() -> None:
    op.drop_index("ix_feature_tags_area_id", table_name="feature_tags")
    op.drop_index("ix_feature_tags_feature", table_name="feature_tags")
    op.drop_index("ix_feature_tags_area", table_name="feature_tags")
    op.drop_table("feature_tags")
