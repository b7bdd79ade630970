"""Partner uploads of asset layers: validate, preview, then commit all or nothing as a new version.

``check_upload`` reads a file (:mod:`insight.partner.safe_files`), checks every row
(:mod:`insight.partner.record_checks`) and compares the rows that pass with the layer's
current records: added, changed, unchanged, removed. It writes nothing.
``stage_upload`` keeps the file and its report so the web page can show them and
commit later; ``commit_upload`` (or ``commit_check`` for the command line) writes
the version in one transaction, re-checking the file and refusing if the layer
changed since the preview. Rows with errors are not loaded, and the records they
would have updated stay as they are.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from insight.config import Settings
from insight.errors import ConfigError, InsightError, LoadError, NotFoundError, Problem
from insight.partner import audit
from insight.partner.auth import LayerRef, Principal, can, organisation_id, require
from insight.partner.record_checks import (
    CHARITY_COLUMNS,
    COMPANY_COLUMNS,
    ERROR,
    ORGANISATION_COLUMNS,
    CheckResult,
    Context,
    ExistingRecord,
    Issue,
    Rules,
    check_table,
)
from insight.partner.safe_files import UploadLimits, read_upload, saved_upload, too_large
from insight.partner.tables import RawTable
from insight.partner.versions import (
    Change,
    RecordState,
    VersionConflict,
    VersionInfo,
    apply_changes,
    aware,
    create_asset_layer,
    current_records,
    differences,
    ensure_versioned,
    layer_info,
    layer_state,
    lock_layer,
    record_view,
)
from insight.store.io import authority_geometry
from insight.store.models import Feature, Layer, Upload

PREVIEW_SHOWN = 500


@dataclass(frozen=True)
class PreviewRow:
    """One line of the preview: what will happen to a record and why."""

    status: str
    key: str
    name: str | None
    category: str | None
    row: int | None = None
    fields: tuple[str, ...] = ()
    lon: float | None = None
    lat: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "key": self.key, "name": self.name, "category": self.category,
                "row": self.row, "fields": list(self.fields), "lon": self.lon, "lat": self.lat}


@dataclass
class Preview:
    """What a commit would do, compared with the current version."""

    changes: list[Change]
    rows: list[PreviewRow]
    counts: dict[str, int]


@dataclass
class UploadCheck:
    """A checked upload: the file, the check result and the preview. Nothing has been written."""

    layer: str
    layer_exists: bool
    filename: str
    sha256: str
    size: int
    format: str
    result: CheckResult
    preview: Preview
    state: str
    org_id: int | None
    whole_layer: bool
    notes: list[str] = field(default_factory=list)

    @property
    def committable(self) -> bool:
        return bool(self.result.candidates) or bool(self.preview.counts.get("removed"))

    def report(self) -> dict[str, Any]:
        """A JSON-safe summary for the upload record, the web page and the command line."""
        return {
            "layer": self.layer, "layer_exists": self.layer_exists, "filename": self.filename,
            "sha256": self.sha256, "size": self.size, "format": self.format,
            "rows_read": self.result.rows_read, "rows_loaded": len(self.result.candidates),
            "rows_rejected": len(self.result.rejected_rows), "mapping": self.result.mapping,
            "issues": [i.as_dict() for i in self.result.issues], "counts": self.preview.counts,
            "preview": [r.as_dict() for r in self.preview.rows[:PREVIEW_SHOWN]], "notes": self.notes,
            "state": self.state,
        }


def _scope_org(layer: LayerRef | None, actor: Principal, on_behalf_of: int | None) -> int | None:
    if actor.role == "partner":
        return actor.org_id
    if on_behalf_of is not None:
        return on_behalf_of
    return layer.owner_org_id if layer is not None else None


def _in_scope(state: RecordState, *, scope: int | None, whole_layer: bool) -> bool:
    return whole_layer or state.owner_org_id == scope


def diff_records(
    current: list[RecordState],
    result: CheckResult,
    *,
    owner_org_id: int | None,
    now: datetime,
) -> Preview:
    """Compare the rows that passed with the current records in the upload's scope (pure).

    Records whose row had errors are kept unchanged; records absent from the file
    are removed (they keep their history, marked deleted).
    """
    by_key: dict[str, RecordState] = {}
    for state in current:
        if state.key in by_key:
            raise ConfigError(f"several current records share the id '{state.key}' (they belong to different "
                              "organisations): upload on behalf of one organisation")
        by_key[state.key] = state
    changes: list[Change] = []
    rows: list[PreviewRow] = []
    counts = {"added": 0, "changed": 0, "unchanged": 0, "removed": 0, "kept": 0}
    seen: set[str] = set()
    for c in result.candidates:
        seen.add(c.key)
        before = by_key.get(c.key)
        owner = before.owner_org_id if before is not None else owner_org_id
        after = RecordState(c.key, owner, c.name, c.category, c.properties, c.lon, c.lat, c.inside_authority,
                            now, c.last_assured or now, before.feature_id if before else None)
        if before is None:
            changes.append(Change("added", None, after))
            status, fields = "added", ()
        else:
            fields = differences(before, after)
            if fields:
                changes.append(Change("changed", before, after, fields))
                status = "changed"
            else:
                status = "unchanged"
                newer = c.last_assured is not None and (before.last_assured is None or c.last_assured > before.last_assured)
                if newer:
                    changes.append(Change("assured", before, replace(before, last_assured=c.last_assured)))
        counts[status] += 1
        rows.append(PreviewRow(status, c.key, c.name, c.category, c.row, fields, c.lon, c.lat))
    for key, state in by_key.items():
        if key in seen:
            continue
        if key in result.protected_keys:
            counts["kept"] += 1
            rows.append(PreviewRow("kept", key, state.name, state.category, None, (), state.lon, state.lat))
            continue
        changes.append(Change("removed", state, None))
        counts["removed"] += 1
        rows.append(PreviewRow("removed", key, state.name, state.category, None, (), state.lon, state.lat))
    order = {"added": 0, "changed": 1, "removed": 2, "kept": 3, "unchanged": 4}
    rows.sort(key=lambda r: (order[r.status], r.row or 0, r.key))
    return Preview(changes, rows, counts)


def _existing(states: list[RecordState], scope: int | None, whole_layer: bool) -> tuple[ExistingRecord, ...]:
    out = []
    for s in states:
        identifiers = {kind: str(s.properties[c]).replace(" ", "").upper()
                       for kind, columns in (("charity_number", CHARITY_COLUMNS), ("company_number", COMPANY_COLUMNS))
                       for c in columns if s.properties.get(c) not in (None, "")}
        organisation = next((s.properties[c] for c in ORGANISATION_COLUMNS if s.properties.get(c)), None)
        out.append(ExistingRecord(s.key, s.name, s.lon, s.lat, identifiers,
                                  _in_scope(s, scope=scope, whole_layer=whole_layer),
                                  str(organisation) if organisation else None))
    return tuple(out)


def postcode_lookup(engine: Engine, layer: str) -> dict[str, tuple[float, float]] | None:
    """Postcode centres from the point layer ``layer`` (source_id = postcode), or None if it is not loaded."""
    with engine.connect() as conn:
        layer_id = conn.execute(select(Layer.id).where(Layer.name == layer, Layer.kind == "points")).scalar_one_or_none()
        if layer_id is None:
            return None
        rows = conn.execute(
            select(Feature.source_id, func.ST_X(Feature.geom), func.ST_Y(Feature.geom))
            .where(Feature.layer_id == layer_id, Feature.geom.is_not(None), Feature.source_id.is_not(None))
        ).all()
    return {r[0]: (float(r[1]), float(r[2])) for r in rows}


def _check_table(
    engine: Engine,
    table: RawTable,
    *,
    layer: str,
    actor: Principal,
    settings: Settings,
    filename: str,
    sha256: str,
    size: int,
    on_behalf_of: str | None = None,
) -> UploadCheck:
    with engine.connect() as conn:
        try:
            info = layer_info(conn, layer)
        except NotFoundError:
            info = None
        if info is None:
            require(actor, "manage_layers")
            rules, ref, states, state = Rules(), None, [], "new"
        else:
            if info.kind != "points":
                raise ConfigError(f"layer '{layer}' is a {info.kind} layer; uploads replace records of point layers")
            require(actor, "upload", info.ref)
            rules, ref = info.rules, info.ref
            states = current_records(conn, info.id, layer_owner=info.ref.owner_org_id)
            state = layer_state(conn, info.id)
        behalf = organisation_id(conn, on_behalf_of) if on_behalf_of else None
    scope = _scope_org(ref, actor, behalf)
    whole_layer = actor.role != "partner" and behalf is None
    context = Context(
        authority=authority_geometry(engine),
        existing=_existing(states, scope, whole_layer),
        postcodes=postcode_lookup(engine, settings.postcode_layer),
    )
    result = check_table(table, rules, context, source=filename)
    in_scope = [s for s in states if _in_scope(s, scope=scope, whole_layer=whole_layer)]
    preview = diff_records(in_scope, result, owner_org_id=scope, now=datetime.now(UTC))
    notes = list(table.notes)
    if context.authority is None:
        notes.append("no council boundary is loaded, so locations were not checked against the council's area")
    if rules.categories is None:
        notes.append("this layer has no category list, so categories were not checked")
    if info is None:
        notes.append(f"there is no layer '{layer}' yet: committing creates it")
    return UploadCheck(layer, info is not None, filename, sha256, size, table.format, result, preview, state,
                       scope, whole_layer, notes)


def _clean_filename(filename: str) -> str:
    name = PurePosixPath(filename.replace("\\", "/")).name.strip()
    return "".join(ch for ch in name if ch.isprintable())[:255] or "upload"


def check_upload(
    engine: Engine,
    path: Path,
    *,
    layer: str,
    actor: Principal,
    settings: Settings,
    filename: str | None = None,
    on_behalf_of: str | None = None,
) -> UploadCheck:
    """Check the file at ``path`` for upload to ``layer`` by ``actor`` and preview it; write nothing.

    Raises PermissionDenied if ``actor`` may not upload there and LoadError if the
    file is refused as a whole.
    """
    filename = _clean_filename(filename or path.name)
    if not path.is_file():
        raise LoadError(filename, [Problem(f"file not found: {path}")])
    with engine.connect() as conn:
        try:
            info = layer_info(conn, layer)
            require(actor, "upload", info.ref)
        except NotFoundError:
            require(actor, "manage_layers")
        else:
            if not (info.configured or info.theme == "assets"):
                raise ConfigError(f"layer '{layer}' is not an asset layer open to uploads: only asset layers are "
                                  "updated here (survey files go through 'Survey files'; other layers through "
                                  "'insight import')")
    table = read_upload(path, filename=filename, limits=UploadLimits.from_settings(settings))
    data = path.read_bytes()
    return _check_table(engine, table, layer=layer, actor=actor, settings=settings, filename=filename,
                        sha256=hashlib.sha256(data).hexdigest(), size=len(data), on_behalf_of=on_behalf_of)


def commit_check(
    engine: Engine,
    check: UploadCheck,
    *,
    actor: Principal,
    ip: str | None = None,
    action: str = "upload",
    upload_id: int | None = None,
) -> VersionInfo:
    """Write a checked upload as the layer's next version, all or nothing.

    Refuses (VersionConflict) if the layer changed after the check, and
    (ConfigError) if no row passed.
    """
    if not check.committable:
        raise ConfigError(f"{check.filename}: no row passed the checks, so there is nothing to commit; "
                          "fix the rows listed in the report and upload the file again")
    with engine.begin() as conn:
        try:
            info = layer_info(conn, check.layer)
        except NotFoundError:
            info = None
        if info is None:
            if check.layer_exists:
                raise VersionConflict(f"layer '{check.layer}' was removed after the check")
            require(actor, "manage_layers")
            layer_id = create_asset_layer(conn, check.layer)
        else:
            require(actor, "upload", info.ref)
            layer_id = info.id
            lock_layer(conn, layer_id)
            now_state = layer_state(conn, layer_id)
            if now_state != check.state:
                raise VersionConflict(
                    f"layer '{check.layer}' changed after this file was checked (it was at {check.state}, "
                    f"now {now_state}); check the file again to see an up-to-date preview, then commit")
        ensure_versioned(conn, layer_id, actor=actor)
        records = current_records(conn, layer_id)
        in_scope = [s for s in records if _in_scope(s, scope=check.org_id, whole_layer=check.whole_layer)]
        preview = diff_records(in_scope, check.result, owner_org_id=check.org_id, now=datetime.now(UTC))
        result = apply_changes(
            conn, layer_id, preview.changes, action=action, actor=actor, org_id=check.org_id,
            unchanged=preview.counts["unchanged"], source_file=check.filename, checksum=check.sha256,
            detail={"rows_read": check.result.rows_read, "rows_rejected": len(check.result.rejected_rows),
                    "kept": preview.counts["kept"]},
        )
        audit.record(conn, "upload_committed", actor_id=actor.id, actor_email=actor.email, ip=ip,
                     target=f"layer:{check.layer}",
                     detail={"file": check.filename, "sha256": check.sha256, "version": result.number,
                             "counts": preview.counts, "upload": upload_id})
        if upload_id is not None:
            conn.execute(update(Upload).where(Upload.id == upload_id).values(
                status="committed", decided_at=datetime.now(UTC), version_number=result.number))
    return result


# --- staged uploads (the web flow) ----------------------------------------------------------


@dataclass(frozen=True)
class StagedUpload:
    """An upload kept for review: its id, owner, status and report."""

    id: int
    layer: str
    user_id: int | None
    filename: str
    status: str
    created_at: datetime
    report: dict
    version_number: int | None


def stage_upload(
    engine: Engine,
    content: bytes,
    *,
    filename: str,
    layer: str,
    actor: Principal,
    settings: Settings,
    ip: str | None = None,
    on_behalf_of: str | None = None,
) -> tuple[int, UploadCheck]:
    """Check ``content`` and keep it with its report for review; nothing is written if it is refused."""
    filename = _clean_filename(filename)
    if len(content) > settings.upload_max_bytes:
        raise LoadError(filename, [Problem(too_large(len(content), settings.upload_max_bytes))])
    with saved_upload(content, filename) as path:
        check = check_upload(engine, path, layer=layer, actor=actor, settings=settings, filename=filename,
                             on_behalf_of=on_behalf_of)
    with engine.begin() as conn:
        upload_id = conn.execute(insert(Upload).values(
            layer_name=layer, user_id=actor.id, org_id=check.org_id, filename=filename, content=content,
            sha256=check.sha256, size_bytes=len(content), status="pending", created_at=datetime.now(UTC),
            base_version=None, report=check.report() | {"on_behalf_of": on_behalf_of},
        ).returning(Upload.id)).scalar_one()
        audit.record(conn, "upload_staged", actor_id=actor.id, actor_email=actor.email, ip=ip,
                     target=f"layer:{layer}", detail={"file": filename, "sha256": check.sha256, "upload": upload_id,
                                                      "counts": check.preview.counts,
                                                      "rejected": len(check.result.rejected_rows)})
    return upload_id, check


def _upload_row(conn: Connection, upload_id: int) -> Any:
    row = conn.execute(select(Upload.__table__).where(Upload.id == upload_id)).one_or_none()
    if row is None:
        raise NotFoundError(f"no upload {upload_id}")
    return row


def _may_see(actor: Principal, row: Any) -> bool:
    return row.user_id == actor.id or can(actor, "manage_layers")


def staged_upload(engine: Engine, upload_id: int, *, actor: Principal) -> StagedUpload:
    """An upload its sender (or an officer) may review; NotFoundError for anyone else."""
    with engine.connect() as conn:
        row = _upload_row(conn, upload_id)
    if not _may_see(actor, row):
        raise NotFoundError(f"no upload {upload_id}")
    return StagedUpload(row.id, row.layer_name, row.user_id, row.filename, row.status, aware(row.created_at),
                        row.report, row.version_number)


def commit_upload(
    engine: Engine, upload_id: int, *, actor: Principal, settings: Settings, ip: str | None = None
) -> VersionInfo:
    """Commit a staged upload: re-check its file, then write it as one version."""
    with engine.connect() as conn:
        row = _upload_row(conn, upload_id)
    if not _may_see(actor, row):
        raise NotFoundError(f"no upload {upload_id}")
    if row.status != "pending":
        raise ConfigError(f"upload {upload_id} ({row.filename}) was already {row.status}")
    with saved_upload(bytes(row.content), row.filename) as path:
        check = check_upload(engine, path, layer=row.layer_name, actor=actor, settings=settings,
                             filename=row.filename, on_behalf_of=row.report.get("on_behalf_of"))
    if check.state != row.report.get("state"):
        raise VersionConflict(
            f"layer '{row.layer_name}' changed after you checked {row.filename}; upload the file again to see an "
            "up-to-date preview before committing")
    return commit_check(engine, check, actor=actor, ip=ip, upload_id=upload_id)


def discard_upload(engine: Engine, upload_id: int, *, actor: Principal, ip: str | None = None) -> None:
    """Mark a pending upload discarded (its file is kept, as everything a partner submits)."""
    with engine.begin() as conn:
        row = _upload_row(conn, upload_id)
        if not _may_see(actor, row):
            raise NotFoundError(f"no upload {upload_id}")
        if row.status != "pending":
            raise ConfigError(f"upload {upload_id} ({row.filename}) was already {row.status}")
        conn.execute(update(Upload).where(Upload.id == upload_id).values(status="discarded",
                                                                         decided_at=datetime.now(UTC)))
        audit.record(conn, "upload_discarded", actor_id=actor.id, actor_email=actor.email, ip=ip,
                     target=f"layer:{row.layer_name}", detail={"upload": upload_id, "file": row.filename})


# --- editing one record ------------------------------------------------------------------------


def check_record_edit(
    engine: Engine,
    feature_id: int,
    values: dict[str, str],
    *,
    actor: Principal,
) -> tuple[RecordState | None, list[Issue]]:
    """Check an edited record with the same rules as an upload row.

    ``values`` holds ``name``, ``category``, ``longitude``, ``latitude`` and any
    property to change. Returns the new state (None if there are errors) and the issues.
    """
    view = record_view(engine, feature_id, actor=actor)
    before = view.state
    with engine.connect() as conn:
        info = layer_info(conn, view.layer)
        states = current_records(conn, info.id, layer_owner=info.ref.owner_org_id)
    record = {k: v for k, v in before.properties.items()}
    for key, value in values.items():
        if key not in ("name", "category", "longitude", "latitude", "id"):
            record[key] = value
    record.update(name=values.get("name", before.name or ""), category=values.get("category", before.category or ""),
                  longitude=values.get("longitude", "" if before.lon is None else repr(before.lon)),
                  latitude=values.get("latitude", "" if before.lat is None else repr(before.lat)),
                  id=before.key)
    columns = list(record)
    table = RawTable("form", columns, [record])
    rules = replace(info.rules, key_field="id")
    existing = _existing(states, before.owner_org_id, False)
    context = Context(authority=authority_geometry(engine), existing=existing)
    try:
        result = check_table(table, rules, context, source="the form")
    except LoadError as err:
        return None, [Issue(None, p.column, p.reason) for p in err.problems]
    if result.errors or not result.candidates:
        return None, result.issues
    c = result.candidates[0]
    after = RecordState(before.key, before.owner_org_id, c.name, c.category, c.properties, c.lon, c.lat,
                        c.inside_authority, before.last_updated, before.last_assured, feature_id)
    return after, result.issues


def refusal_issues(error: InsightError) -> list[Issue]:
    """Issues for a whole-file refusal, to show in the same report table."""
    if isinstance(error, LoadError):
        return [Issue(p.row, p.column, p.reason, ERROR) for p in error.problems]
    return [Issue(None, None, str(error), ERROR)]
