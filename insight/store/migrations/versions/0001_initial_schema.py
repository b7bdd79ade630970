"""Initial schema: organisations, layers, areas, features, indicator values, area lookups.

Revision ID: 0001
Revises: 
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa
import geoalchemy2
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('organisations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('slug')
    )
    op.create_table('layers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('publisher', sa.String(length=200), nullable=False),
    sa.Column('licence', sa.String(length=200), nullable=False),
    sa.Column('attribution', sa.Text(), nullable=False),
    sa.Column('vintage', sa.String(length=50), nullable=True),
    sa.Column('area_type', sa.String(length=50), nullable=True),
    sa.Column('geography', sa.String(length=50), nullable=True),
    sa.Column('theme', sa.String(length=50), nullable=True),
    sa.Column('asset_kind', sa.String(length=30), nullable=True),
    sa.Column('owner_org_id', sa.Integer(), nullable=True),
    sa.Column('sensitivity', sa.String(length=20), nullable=False),
    sa.Column('illustrative', sa.Boolean(), nullable=False),
    sa.Column('is_authority', sa.Boolean(), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source_file', sa.Text(), nullable=True),
    sa.Column('source_checksum', sa.String(length=64), nullable=True),
    sa.Column('feature_count', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.String(length=20), nullable=True),
    sa.Column('period_end', sa.String(length=20), nullable=True),
    sa.Column('load_report', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.CheckConstraint("kind IN ('boundary', 'points', 'indicator', 'lookup')", name='ck_layers_kind'),
    sa.CheckConstraint("sensitivity IN ('public', 'restricted')", name='ck_layers_sensitivity'),
    sa.ForeignKeyConstraint(['owner_org_id'], ['organisations.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('area_lookups',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('layer_id', sa.Integer(), nullable=False),
    sa.Column('from_code', sa.String(length=64), nullable=False),
    sa.Column('from_geography', sa.String(length=50), nullable=False),
    sa.Column('from_name', sa.String(length=200), nullable=True),
    sa.Column('to_code', sa.String(length=64), nullable=False),
    sa.Column('to_geography', sa.String(length=50), nullable=False),
    sa.Column('to_name', sa.String(length=200), nullable=True),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['layer_id'], ['layers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('area_lookups', schema=None) as batch_op:
        batch_op.create_index('ix_area_lookups_layer_from', ['layer_id', 'from_code'], unique=False)

    op.create_geospatial_table('areas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('layer_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('area_type', sa.String(length=50), nullable=False),
    sa.Column('vintage', sa.String(length=50), nullable=True),
    sa.Column('properties', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['layer_id'], ['layers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('layer_id', 'code', name='uq_areas_layer_code')
    )
    with op.batch_alter_table('areas', schema=None) as batch_op:
        batch_op.create_geospatial_index('idx_areas_geom', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
        batch_op.create_index(batch_op.f('ix_areas_layer_id'), ['layer_id'], unique=False)

    op.create_geospatial_table('features',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('layer_id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.String(length=100), nullable=True),
    sa.Column('name', sa.String(length=300), nullable=True),
    sa.Column('category', sa.String(length=100), nullable=True),
    sa.Column('month', sa.String(length=7), nullable=True),
    sa.Column('inside_authority', sa.Boolean(), nullable=True),
    sa.Column('properties', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.ForeignKeyConstraint(['layer_id'], ['layers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('features', schema=None) as batch_op:
        batch_op.create_geospatial_index('idx_features_geom', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
        batch_op.create_index('ix_features_layer_category', ['layer_id', 'category'], unique=False)
        batch_op.create_index('ix_features_layer_month', ['layer_id', 'month'], unique=False)

    op.create_table('indicator_values',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('layer_id', sa.Integer(), nullable=False),
    sa.Column('area_code', sa.String(length=64), nullable=False),
    sa.Column('area_name', sa.String(length=200), nullable=True),
    sa.Column('geography', sa.String(length=50), nullable=False),
    sa.Column('indicator', sa.String(length=200), nullable=False),
    sa.Column('period', sa.String(length=20), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['layer_id'], ['layers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('indicator_values', schema=None) as batch_op:
        batch_op.create_index('ix_indicator_values_layer_indicator', ['layer_id', 'indicator', 'area_code'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('indicator_values', schema=None) as batch_op:
        batch_op.drop_index('ix_indicator_values_layer_indicator')

    op.drop_table('indicator_values')
    with op.batch_alter_table('features', schema=None) as batch_op:
        batch_op.drop_index('ix_features_layer_month')
        batch_op.drop_index('ix_features_layer_category')
        batch_op.drop_geospatial_index('idx_features_geom', postgresql_using='gist', column_name='geom')

    op.drop_geospatial_table('features')
    with op.batch_alter_table('areas', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_areas_layer_id'))
        batch_op.drop_geospatial_index('idx_areas_geom', postgresql_using='gist', column_name='geom')

    op.drop_geospatial_table('areas')
    with op.batch_alter_table('area_lookups', schema=None) as batch_op:
        batch_op.drop_index('ix_area_lookups_layer_from')

    op.drop_table('area_lookups')
    op.drop_table('layers')
    op.drop_table('organisations')
