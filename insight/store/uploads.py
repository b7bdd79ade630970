"""The uploads table, and the few reads an upload's check makes of the layers it compares against.

Files sent through the partner pages wait here with their report and checked result
(status ``pending``) until committed or discarded. Writes take the caller's connection,
so a commit's status change lands in the same transaction as the layer it writes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from insight.store.models import Area, Feature, Layer, Upload, User
from insight.store.timestamps import aware


@dataclass(frozen=True)
class UploadRow:
    """One upload as the pipeline reads it (without its file or checked result, which can be large)."""

    id: int
    kind: str
    layer: str
    user_id: int | None
    user_email: str | None
    org_id: int | None
    filename: str
    sha256: str
    size_bytes: int
    status: str
    created_at: datetime
    decided_at: datetime | None
    base_version: int | None
    version_number: int | None
    report: dict[str, Any]


def _columns() -> tuple[Any, ...]:
    return (Upload.id, Upload.kind, Upload.layer_name, Upload.user_id, User.email, Upload.org_id, Upload.filename,
            Upload.sha256, Upload.size_bytes, Upload.status, Upload.created_at, Upload.decided_at,
            Upload.base_version, Upload.version_number, Upload.report)


def _row(values: Any) -> UploadRow:
    (id_, kind, layer, user_id, email, org_id, filename, sha256, size, status, created, decided, base, number,
     report) = values
    return UploadRow(id_, kind, layer, user_id, email, org_id, filename, sha256, size, status, aware(created),
                     aware(decided), base, number, dict(report or {}))


def insert_upload(
    conn: Connection,
    *,
    kind: str,
    layer: str,
    user_id: int | None,
    org_id: int | None,
    filename: str,
    content: bytes,
    sha256: str,
    report: dict[str, Any],
    checked: Any,
    base_version: int | None = None,
) -> int:
    """Keep a checked file as a pending upload; return its id."""
    return int(conn.execute(insert(Upload).values(
        kind=kind, layer_name=layer, user_id=user_id, org_id=org_id, filename=filename, content=content,
        sha256=sha256, size_bytes=len(content), status="pending", created_at=datetime.now(UTC),
        base_version=base_version, report=report, checked=checked,
    ).returning(Upload.id)).scalar_one())


def get_upload(conn: Connection, upload_id: int) -> UploadRow | None:
    """The upload ``upload_id`` with its sender's email, or None if there is none."""
    values = conn.execute(select(*_columns()).outerjoin(User, User.id == Upload.user_id)
                          .where(Upload.id == upload_id)).one_or_none()
    return None if values is None else _row(values)


def upload_kind(conn: Connection, upload_id: int) -> str | None:
    """The kind of upload ``upload_id`` (``asset``, ``survey``), or None if there is none."""
    return conn.execute(select(Upload.kind).where(Upload.id == upload_id)).scalar_one_or_none()


def upload_content(conn: Connection, upload_id: int) -> bytes:
    """The file of upload ``upload_id``, exactly as it was sent."""
    return bytes(conn.execute(select(Upload.content).where(Upload.id == upload_id)).scalar_one())


def checked_result(conn: Connection, upload_id: int) -> Any:
    """The checked result kept with upload ``upload_id`` (None for uploads staged before it was kept)."""
    return conn.execute(select(Upload.checked).where(Upload.id == upload_id)).scalar_one()


def decide_upload(conn: Connection, upload_id: int, *, status: str, version_number: int | None = None) -> bool:
    """Mark a pending upload ``committed`` or ``discarded``; False if it was no longer pending."""
    done = conn.execute(update(Upload).where(Upload.id == upload_id, Upload.status == "pending").values(
        status=status, decided_at=datetime.now(UTC), version_number=version_number))
    return done.rowcount == 1


def committed_uploads(conn: Connection, layer: str, *, kind: str) -> list[UploadRow]:
    """Committed uploads of ``kind`` to ``layer``, newest version first."""
    rows = conn.execute(select(*_columns()).outerjoin(User, User.id == Upload.user_id)
                        .where(Upload.layer_name == layer, Upload.kind == kind, Upload.status == "committed")
                        .order_by(Upload.version_number.desc())).all()
    return [_row(values) for values in rows]


def committed_count(conn: Connection, layer: str, *, kind: str) -> int:
    """How many uploads of ``kind`` to ``layer`` were committed."""
    return int(conn.execute(select(func.count()).select_from(Upload).where(
        Upload.layer_name == layer, Upload.kind == kind, Upload.status == "committed")).scalar_one())


# --- what checks read from the layers ------------------------------------------------------------


def point_locations(engine: Engine, layer: str) -> dict[str, tuple[float, float]] | None:
    """Longitude and latitude of each located point of the point layer ``layer`` by its source id.

    None if there is no such point layer (for example, no postcode lookup is loaded).
    """
    with engine.connect() as conn:
        layer_id = conn.execute(select(Layer.id).where(Layer.name == layer, Layer.kind == "points")
                                ).scalar_one_or_none()
        if layer_id is None:
            return None
        rows = conn.execute(
            select(Feature.source_id, func.ST_X(Feature.geom), func.ST_Y(Feature.geom))
            .where(Feature.layer_id == layer_id, Feature.geom.is_not(None), Feature.source_id.is_not(None))
        ).all()
    return {r[0]: (float(r[1]), float(r[2])) for r in rows}


@dataclass(frozen=True)
class CategoryCounts:
    """A stored layer's provenance and how many records it holds per category (no record is read)."""

    checksum: str | None
    loaded_at: datetime | None
    source_file: str | None
    counts: dict[str | None, int]


def category_counts(conn: Connection, layer: str) -> CategoryCounts | None:
    """Records of ``layer`` counted by category, with where the layer came from; None if it is not loaded."""
    row = conn.execute(select(Layer.id, Layer.source_checksum, Layer.loaded_at, Layer.source_file)
                       .where(Layer.name == layer)).one_or_none()
    if row is None:
        return None
    counts = conn.execute(select(Feature.category, func.count()).where(Feature.layer_id == row.id)
                          .group_by(Feature.category)).all()
    return CategoryCounts(row.source_checksum, aware(row.loaded_at), row.source_file,
                          {category: int(n) for category, n in counts})


def area_names(engine: Engine, codes: list[str]) -> dict[str, str]:
    """Names of the area codes found in any loaded boundary layer."""
    if not codes:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(select(Area.code, Area.name).where(Area.code.in_(codes))).all()
    return {row.code: row.name for row in rows}
