"""One set of tables for SpatiaLite and PostGIS. Geometries are EPSG:4326.

A new layer is rows here plus a file under ``layers/``, never a new table.
"""
from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SRID = 4326
JsonType = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Organisation(Base):
    """A partner organisation (VCFS, the council itself) that can own layers."""

    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40), default="vcfs")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Layer(Base):
    """A dataset with its provenance; its rows live in areas, features, indicator_values or area_lookups."""

    __tablename__ = "layers"
    __table_args__ = (
        CheckConstraint("kind IN ('boundary', 'points', 'indicator', 'lookup')", name="ck_layers_kind"),
        CheckConstraint("sensitivity IN ('public', 'restricted')", name="ck_layers_sensitivity"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text)
    publisher: Mapped[str] = mapped_column(String(200))
    licence: Mapped[str] = mapped_column(String(200))
    attribution: Mapped[str] = mapped_column(Text)
    vintage: Mapped[str | None] = mapped_column(String(50))
    area_type: Mapped[str | None] = mapped_column(String(50))
    geography: Mapped[str | None] = mapped_column(String(50))
    theme: Mapped[str | None] = mapped_column(String(50))
    asset_kind: Mapped[str | None] = mapped_column(String(30))
    owner_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    sensitivity: Mapped[str] = mapped_column(String(20), default="public")
    illustrative: Mapped[bool] = mapped_column(Boolean, default=False)
    is_authority: Mapped[bool] = mapped_column(Boolean, default=False)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source_file: Mapped[str | None] = mapped_column(Text)
    source_checksum: Mapped[str | None] = mapped_column(String(64))
    feature_count: Mapped[int] = mapped_column(Integer, default=0)
    period_start: Mapped[str | None] = mapped_column(String(20))
    period_end: Mapped[str | None] = mapped_column(String(20))
    load_report: Mapped[dict] = mapped_column(JsonType, default=dict)


class Area(Base):
    """A boundary feature: a ward, LSOA, town centre, constituency, borough or drawn area."""

    __tablename__ = "areas"
    __table_args__ = (UniqueConstraint("layer_id", "code", name="uq_areas_layer_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    area_type: Mapped[str] = mapped_column(String(50))
    vintage: Mapped[str | None] = mapped_column(String(50))
    properties: Mapped[dict] = mapped_column(JsonType, default=dict)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True, nullable=False))


class Feature(Base):
    """A point of a point layer (a crime, a venue, an organisation); geometry may be absent."""

    __tablename__ = "features"
    __table_args__ = (
        Index("ix_features_layer_month", "layer_id", "month"),
        Index("ix_features_layer_category", "layer_id", "category"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"))
    source_id: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(300))
    category: Mapped[str | None] = mapped_column(String(100))
    month: Mapped[str | None] = mapped_column(String(7))
    inside_authority: Mapped[bool | None] = mapped_column(Boolean)
    properties: Mapped[dict] = mapped_column(JsonType, default=dict)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True, nullable=True))


class IndicatorValue(Base):
    """One figure for one area: e.g. IMD score of an LSOA in 2019."""

    __tablename__ = "indicator_values"
    __table_args__ = (Index("ix_indicator_values_layer_indicator", "layer_id", "indicator", "area_code"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"))
    area_code: Mapped[str] = mapped_column(String(64))
    area_name: Mapped[str | None] = mapped_column(String(200))
    geography: Mapped[str] = mapped_column(String(50))
    indicator: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(20))
    value: Mapped[float] = mapped_column(Float)


class AreaLookup(Base):
    """A best-fit or weighted correspondence between two geographies (e.g. LSOA 2021 to ward 2022)."""

    __tablename__ = "area_lookups"
    __table_args__ = (Index("ix_area_lookups_layer_from", "layer_id", "from_code"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"))
    from_code: Mapped[str] = mapped_column(String(64))
    from_geography: Mapped[str] = mapped_column(String(50))
    from_name: Mapped[str | None] = mapped_column(String(200))
    to_code: Mapped[str] = mapped_column(String(64))
    to_geography: Mapped[str] = mapped_column(String(50))
    to_name: Mapped[str | None] = mapped_column(String(200))
    weight: Mapped[float] = mapped_column(Float, default=1.0)


class FeatureTag(Base):
    """The area of one boundary layer that a point falls in, computed once at load time.

    Interactive views then filter and count by integer ids instead of joining spatially.
    A point in no area of that layer has no row.
    """

    __tablename__ = "feature_tags"
    __table_args__ = (Index("ix_feature_tags_area", "boundary_layer_id", "area_id"),)
    boundary_layer_id: Mapped[int] = mapped_column(
        ForeignKey("layers.id", ondelete="CASCADE"), primary_key=True
    )
    feature_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("features.id", ondelete="CASCADE"), primary_key=True
    )
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
