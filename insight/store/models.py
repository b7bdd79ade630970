"""One set of tables for SpatiaLite and PostGIS. Geometries are EPSG:4326.

A new layer is rows here plus a file under ``layers/``, never a new table.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

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
    LargeBinary,
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
    """The declarative base every table of the store derives from."""


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
    load_report: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


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
    properties: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True, nullable=False))


class Feature(Base):
    """A point of a point layer (a crime, a venue, an organisation); geometry may be absent.

    The partner columns are set for layers maintained through uploads: ``record_key``
    identifies a record across versions, ``owner_org_id`` is the organisation that
    maintains it (an id in ``organisations``, checked by the application because
    SQLite cannot drop a column that carries a foreign key), ``last_updated`` and
    ``last_assured`` (last checked as still true) date it. Layers loaded from files
    leave them empty until their first partner version.
    """

    __tablename__ = "features"
    __table_args__ = (
        Index("ix_features_layer_month", "layer_id", "month"),
        Index("ix_features_layer_category", "layer_id", "category"),
        Index("ix_features_layer_record", "layer_id", "record_key"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"))
    source_id: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(300))
    category: Mapped[str | None] = mapped_column(String(100))
    month: Mapped[str | None] = mapped_column(String(7))
    inside_authority: Mapped[bool | None] = mapped_column(Boolean)
    properties: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True, nullable=True))
    record_key: Mapped[str | None] = mapped_column(String(100))
    owner_org_id: Mapped[int | None] = mapped_column(Integer)
    last_updated: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_assured: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


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
    __table_args__ = (
        Index("ix_feature_tags_area", "boundary_layer_id", "area_id"),
        Index("ix_feature_tags_feature", "feature_id"),
        Index("ix_feature_tags_area_id", "area_id"),
    )
    boundary_layer_id: Mapped[int] = mapped_column(
        ForeignKey("layers.id", ondelete="CASCADE"), primary_key=True
    )
    feature_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("features.id", ondelete="CASCADE"), primary_key=True
    )
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))


class AreaCount(Base):
    """How many points of a point layer fall in one area, month, category and asset kind.

    Written with the tags at every load, partner commit and restore, so that profiles,
    shading and tables read a few thousand sums instead of every point. Rows with no
    boundary layer (and no area) count the whole layer, located or not.
    """

    __tablename__ = "area_counts"
    __table_args__ = (
        Index("ix_area_counts_pair", "point_layer_id", "boundary_layer_id", "month"),
        Index("ix_area_counts_area", "area_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    point_layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"))
    boundary_layer_id: Mapped[int | None] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    month: Mapped[str | None] = mapped_column(String(7))
    category: Mapped[str | None] = mapped_column(String(100))
    asset_kind: Mapped[str | None] = mapped_column(String(30))
    n: Mapped[int] = mapped_column(Integer)


class Postcode(Base):
    """One postcode from the council's postcode file (NSPL, ONSPD or Code-Point Open), kept for lookups.

    ``postcode`` is the compact key ('NW95AB'); ``terminated`` the month it went out of use, None while live.
    """

    __tablename__ = "postcodes"
    __table_args__ = (Index("ix_postcodes_sector", "sector"), Index("ix_postcodes_district", "district"))
    postcode: Mapped[str] = mapped_column(String(8), primary_key=True)
    display: Mapped[str] = mapped_column(String(8))
    sector: Mapped[str] = mapped_column(String(6))
    district: Mapped[str] = mapped_column(String(4))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    introduced: Mapped[str | None] = mapped_column(String(7))
    terminated: Mapped[str | None] = mapped_column(String(7))
    authority: Mapped[str | None] = mapped_column(String(9))
    ward: Mapped[str | None] = mapped_column(String(9))
    lsoa: Mapped[str | None] = mapped_column(String(9))


ROLES = ("public", "councillor", "officer", "analyst", "partner", "admin")


class User(Base):
    """A person who signs in. A partner belongs to exactly one organisation."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('public', 'councillor', 'officer', 'analyst', 'partner', 'admin')", name="ck_users_role"
        ),
        CheckConstraint("role <> 'partner' OR organisation_id IS NOT NULL", name="ck_users_partner_org"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    invited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    """A token for scripts: only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserSession(Base):
    """A browser session: only the SHA-256 of its secret is stored; signing out ends it for every copy."""

    __tablename__ = "user_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginAttempt(Base):
    """One sign-in attempt, kept for rate limiting across restarts and workers."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    succeeded: Mapped[bool] = mapped_column(Boolean)


class AuditEvent(Base):
    """Who did what, when: sign-ins, uploads, edits, restores, restricted exports, role changes."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"), Index("ix_audit_events_action_at", "action", "at"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_email: Mapped[str | None] = mapped_column(String(254))
    ip: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


class LayerRules(Base):
    """How uploads to a point layer are checked, and whether partners may maintain it.

    ``categories`` is the allowed list (None: any category); ``required_fields`` are
    columns every row must fill; ``key_field`` names the column that identifies a
    record across uploads (None: detect an ``id``-like column, else match by name).
    """

    __tablename__ = "layer_rules"
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"), primary_key=True)
    partner_upload: Mapped[bool] = mapped_column(Boolean, default=False)
    categories: Mapped[list[str] | None] = mapped_column(JsonType)
    required_fields: Mapped[list[str]] = mapped_column(JsonType, default=list)
    key_field: Mapped[str | None] = mapped_column(String(100))
    location_required: Mapped[bool] = mapped_column(Boolean, default=True)
    duplicate_metres: Mapped[float] = mapped_column(Float, default=25.0)
    unique_identifiers: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LayerVersion(Base):
    """One commit to a layer: who, when, what changed and from which file."""

    __tablename__ = "layer_versions"
    __table_args__ = (
        UniqueConstraint("layer_id", "number", name="uq_layer_versions_layer_number"),
        CheckConstraint(
            "action IN ('baseline', 'reload', 'upload', 'edit', 'restore', 'import')", name="ck_layer_versions_action"
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    user_email: Mapped[str | None] = mapped_column(String(254))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(20))
    source_file: Mapped[str | None] = mapped_column(String(255))
    source_checksum: Mapped[str | None] = mapped_column(String(64))
    added: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    restored_from: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


class FeatureRevision(Base):
    """A record's state from version ``version_from`` up to (not including) ``version_to``.

    The open revision (``version_to`` NULL) is the current state. A removed record
    gets a revision with ``deleted`` true: nothing a partner submitted is lost.
    """

    __tablename__ = "feature_revisions"
    __table_args__ = (
        Index("ix_feature_revisions_layer_key", "layer_id", "record_key"),
        Index("ix_feature_revisions_layer_span", "layer_id", "version_from", "version_to"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"))
    record_key: Mapped[str] = mapped_column(String(100))
    owner_org_id: Mapped[int | None] = mapped_column(Integer)
    version_from: Mapped[int] = mapped_column(Integer)
    version_to: Mapped[int | None] = mapped_column(Integer)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str | None] = mapped_column(String(300))
    category: Mapped[str | None] = mapped_column(String(100))
    properties: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    inside_authority: Mapped[bool | None] = mapped_column(Boolean)
    last_updated: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_assured: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Upload(Base):
    """A file a user submitted, kept with its report and checked result until committed or discarded.

    ``kind`` names the pipeline that checked it (``asset`` or ``survey``); ``checked`` is
    the JSON result of that check, which a commit writes without reading the file again.
    """

    __tablename__ = "uploads"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'committed', 'discarded')", name="ck_uploads_status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    layer_name: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    base_version: Mapped[int | None] = mapped_column(Integer)
    version_number: Mapped[int | None] = mapped_column(Integer)
    report: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    kind: Mapped[str] = mapped_column(String(20), default="asset", server_default="asset")
    checked: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
