"""Partner uploads of asset layers: validate, preview, then commit all or nothing as a new version.

``check_upload`` reads a file (:mod:`insight.partner.safe_files`), checks every row
(:mod:`insight.partner.record_checks`) and compares the rows that pass with the layer's
current records: added, changed, unchanged, removed (:mod:`insight.partner.upload_preview`).
It writes nothing. ``stage_upload`` keeps the file, its report and the checked rows
(:mod:`insight.partner.staging`) so the web page can show them and commit later;
``commit_upload`` (or ``commit_check`` for the command line) writes the checked rows
as the layer's next version in one transaction, without reading the file again, and
refuses if the layer changed since the check. Rows with errors are not loaded, and
the records they would have updated stay as they are.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from insight.config import Settings
from insight.errors import ConfigError, InsightError, LoadError, NotFoundError, Problem, VersionConflict
from insight.partner import staging
from insight.partner.auth import LayerRef, Principal, can, organisation_id, require
from insight.partner.record_checks import ERROR, POSTCODE_COLUMNS, CheckResult, Context, Issue, Rules, check_table
from insight.partner.safe_files import UploadLimits, read_upload
from insight.partner.staging import Checked, Finish, StagedFile
from insight.partner.tables import RawTable
from insight.partner.upload_preview import (
    CheckedRows,
    Preview,
    PreviewRow,
    diff_records,
    existing_records,
    in_scope,
)
from insight.partner.versions import (
    RecordState,
    VersionInfo,
    apply_changes,
    create_asset_layer,
    current_records,
    ensure_versioned,
    layer_info,
    layer_state,
    lock_layer,
    record_view,
)
from insight.sources.postcodes import compact
from insight.store import Connection, Engine, authority_geometry
from insight.store.postcodes import postcode_points, postcode_total
from insight.store.uploads import point_locations

__all__ = [
    "PREVIEW_SHOWN", "Preview", "PreviewRow", "StagedUpload", "UploadCheck", "check_record_edit", "check_upload",
    "commit_check", "commit_upload", "diff_records", "discard_upload", "postcode_lookup", "refusal_issues",
    "stage_upload", "staged_upload",
]

PREVIEW_SHOWN = 500
StagedUpload = StagedFile


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
        """True if committing would change something: a row passed, or records would be removed."""
        return self.rows().committable

    def rows(self) -> CheckedRows:
        """What a commit of this check writes, without the file."""
        return CheckedRows(
            self.layer, self.layer_exists, self.filename, self.sha256, self.state, self.org_id, self.whole_layer,
            self.result.rows_read, tuple(self.result.rejected_rows), frozenset(self.result.protected_keys),
            tuple(self.result.candidates), self.preview.counts.get("removed", 0),
        )

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


def postcode_lookup(engine: Engine, layer: str, table: RawTable | None = None) -> dict[str, tuple[float, float]] | None:
    """Where the postcodes of ``table`` are: from the loaded postcode file (``insight import … --layer postcodes``)
    when there is one, else from the point layer ``layer`` (source_id = postcode); None when neither is loaded."""
    if postcode_total(engine):
        return postcode_points(engine, _postcodes_in(table)) if table is not None else {}
    return point_locations(engine, layer)


def _postcodes_in(table: RawTable) -> list[str]:
    """The compact postcodes in the columns of ``table`` that hold postcodes."""
    columns = [c for c in table.columns if c.strip().lower() in POSTCODE_COLUMNS]
    return [compact(str(r[c])) for r in table.records for c in columns if r.get(c)]


@dataclass(frozen=True)
class _Target:
    """The layer an upload goes to, as the check found it."""

    exists: bool
    rules: Rules
    ref: LayerRef | None
    states: list[RecordState]
    state: str
    scope: int | None
    whole_layer: bool


def _target(engine: Engine, layer: str, actor: Principal, on_behalf_of: str | None) -> _Target:
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
    return _Target(info is not None, rules, ref, states, state, _scope_org(ref, actor, behalf),
                   actor.role != "partner" and behalf is None)


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
    target = _target(engine, layer, actor, on_behalf_of)
    context = Context(
        authority=authority_geometry(engine),
        existing=existing_records(target.states, target.scope, target.whole_layer),
        postcodes=postcode_lookup(engine, settings.postcode_layer, table),
    )
    result = check_table(table, target.rules, context, source=filename)
    scoped = [s for s in target.states if in_scope(s, scope=target.scope, whole_layer=target.whole_layer)]
    preview = diff_records(scoped, result.candidates, protected_keys=result.protected_keys,
                           owner_org_id=target.scope, now=datetime.now(UTC))
    notes = list(table.notes)
    if context.authority is None:
        notes.append("no council boundary is loaded, so locations were not checked against the council's area")
    if target.rules.categories is None:
        notes.append("this layer has no category list, so categories were not checked")
    if not target.exists:
        notes.append(f"there is no layer '{layer}' yet: committing creates it")
    return UploadCheck(layer, target.exists, filename, sha256, size, table.format, result, preview,
                       target.state, target.scope, target.whole_layer, notes)


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
    filename = staging.clean_filename(filename or path.name)
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


def _target_layer(conn: Connection, rows: CheckedRows, actor: Principal) -> int:
    """The id of the layer ``rows`` go to, locked; VersionConflict if it changed since the check."""
    try:
        info = layer_info(conn, rows.layer)
    except NotFoundError:
        info = None
    if info is None:
        if rows.layer_exists:
            raise VersionConflict(f"layer '{rows.layer}' was removed after the check")
        require(actor, "manage_layers")
        return create_asset_layer(conn, rows.layer)
    require(actor, "upload", info.ref)
    lock_layer(conn, info.id)
    now_state = layer_state(conn, info.id)
    if now_state != rows.state:
        raise VersionConflict(
            f"layer '{rows.layer}' changed after this file was checked (it was at {rows.state}, "
            f"now {now_state}); check the file again to see an up-to-date preview, then commit")
    return info.id


def commit_rows(engine: Engine, rows: CheckedRows, *, actor: Principal, finish: Finish,
                action: str = "upload") -> VersionInfo:
    """Write checked rows as the layer's next version and call ``finish``, all in one transaction.

    Refuses (VersionConflict) if the layer changed after the check, and
    (ConfigError) if no row passed.
    """
    if not rows.committable:
        raise ConfigError(f"{rows.filename}: no row passed the checks, so there is nothing to commit; "
                          "fix the rows listed in the report and upload the file again")
    with engine.begin() as conn:
        layer_id = _target_layer(conn, rows, actor)
        ensure_versioned(conn, layer_id, actor=actor)
        scoped = [s for s in current_records(conn, layer_id)
                  if in_scope(s, scope=rows.org_id, whole_layer=rows.whole_layer)]
        preview = diff_records(scoped, list(rows.candidates), protected_keys=rows.protected_keys,
                               owner_org_id=rows.org_id, now=datetime.now(UTC))
        result = apply_changes(
            conn, layer_id, preview.changes, action=action, actor=actor, org_id=rows.org_id,
            unchanged=preview.counts["unchanged"], source_file=rows.filename, checksum=rows.sha256,
            detail={"rows_read": rows.rows_read, "rows_rejected": len(rows.rejected_rows),
                    "kept": preview.counts["kept"]},
        )
        finish(conn, result.number, {"counts": preview.counts})
    return result


def commit_check(
    engine: Engine,
    check: UploadCheck,
    *,
    actor: Principal,
    ip: str | None = None,
    action: str = "upload",
) -> VersionInfo:
    """Write a checked upload (not staged: the command line) as the layer's next version, all or nothing.

    Refuses (VersionConflict) if the layer changed after the check, and
    (ConfigError) if no row passed.
    """
    def finish(conn: Connection, number: int, detail: dict[str, Any]) -> None:
        staging.audit_commit(conn, actor=actor, ip=ip, layer=check.layer,
                             detail={"file": check.filename, "sha256": check.sha256, "version": number,
                                     "upload": None} | detail)

    return commit_rows(engine, check.rows(), actor=actor, finish=finish, action=action)


# --- staged uploads (the web flow) ----------------------------------------------------------


def _sender_or_officer(actor: Principal, staged: StagedFile) -> bool:
    return staged.user_id == actor.id or can(actor, "manage_layers")


ASSET = staging.Kind("asset", "upload", may_see=_sender_or_officer)


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
    """Check ``content`` and keep it with its report and checked rows for review; nothing is written if refused."""
    def check(path: Path, name: str) -> tuple[UploadCheck, Checked]:
        found = check_upload(engine, path, layer=layer, actor=actor, settings=settings, filename=name,
                             on_behalf_of=on_behalf_of)
        kept = Checked(layer, found.sha256, found.report() | {"on_behalf_of": on_behalf_of}, found.rows().as_json(),
                       audit={"counts": found.preview.counts, "rejected": len(found.result.rejected_rows)},
                       org_id=found.org_id)
        return found, kept

    return staging.stage(engine, ASSET, content, filename=filename, check=check, actor=actor, settings=settings,
                         ip=ip)


def staged_upload(engine: Engine, upload_id: int, *, actor: Principal) -> StagedUpload:
    """An upload its sender (or an officer) may review; NotFoundError for anyone else."""
    return staging.lookup(engine, ASSET, upload_id, actor=actor)


def commit_upload(
    engine: Engine, upload_id: int, *, actor: Principal, settings: Settings, ip: str | None = None
) -> VersionInfo:
    """Commit a staged upload: write the rows checked when it was staged as one version.

    ``settings`` is kept for callers; the file is not read again. Refuses
    (VersionConflict) if the layer changed since the check.
    """
    def write(staged: StagedFile, result: Any, finish: Finish) -> VersionInfo:
        return commit_rows(engine, CheckedRows.from_json(result), actor=actor, finish=finish)

    return staging.commit(engine, ASSET, upload_id, write=write, actor=actor, ip=ip)


def discard_upload(engine: Engine, upload_id: int, *, actor: Principal, ip: str | None = None) -> None:
    """Mark a pending upload discarded (its file is kept, as everything a partner submits)."""
    staging.discard(engine, ASSET, upload_id, actor=actor, ip=ip)


# --- editing one record ------------------------------------------------------------------------


def _edited(before: RecordState, values: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = dict(before.properties)
    for key, value in values.items():
        if key not in ("name", "category", "longitude", "latitude", "id"):
            record[key] = value
    record.update(name=values.get("name", before.name or ""), category=values.get("category", before.category or ""),
                  longitude=values.get("longitude", "" if before.lon is None else repr(before.lon)),
                  latitude=values.get("latitude", "" if before.lat is None else repr(before.lat)),
                  id=before.key)
    return record


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
    record = _edited(before, values)
    table = RawTable("form", list(record), [record])
    rules = replace(info.rules, key_field="id")
    context = Context(authority=authority_geometry(engine),
                      existing=existing_records(states, before.owner_org_id, False))
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
