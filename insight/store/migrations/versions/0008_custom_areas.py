"""Custom areas: areas people draw on the map or upload, kept under an id made from their outline.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10
"""
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_geospatial_table(
        "custom_areas",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("geom", Geometry(geometry_type="MULTIPOLYGON", srid=4326, dimension=2, spatial_index=False,
                                   from_text="ST_GeomFromEWKT", name="geometry", nullable=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("custom_areas", schema=None) as batch_op:
        batch_op.create_geospatial_index("idx_custom_areas_geom", ["geom"], unique=False, postgresql_using="gist",
                                         postgresql_ops={})


def downgrade() -> None:
    with op.batch_alter_table("custom_areas", schema=None) as batch_op:
        batch_op.drop_geospatial_index("idx_custom_areas_geom", postgresql_using="gist", column_name="geom")
    op.drop_geospatial_table("custom_areas")
