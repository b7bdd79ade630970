"""Web uploads of resident-survey respondent files: check, preview counts only, then replace the layer.

Respondent rows are restricted: they never leave the server. A check reads the
file as hostile input (:mod:`insight.partner.safe_files`), runs the layer's own
``survey-responses`` loader over it and reports counts only — rows read,
respondents per wave and per ward (counts below :data:`SMALL_COUNT` are shown as
"fewer than 5"), respondents without an area — and what the upload would replace.
A refused file raises :class:`~insight.errors.LoadError` with every row problem.

``stage_survey`` keeps the file and its report in ``uploads`` (pending);
``commit_survey`` re-checks the kept file and replaces the layer with
:func:`insight.sources.ingest.load_layer` and, in the same transaction, numbers the
upload as the layer's next version and audits it. Every committed file stays, so ``restore_survey`` can
stage an earlier version's file again and commit it.
"""
from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, func, insert, select, update

from insight.config import Settings
from insight.errors import ConfigError, LoadError, NotFoundError, Problem
from insight.layers import LayerSpec, load_specs
from insight.partner import audit
from insight.partner.auth import Principal, require
from insight.partner.safe_files import UploadLimits, read_upload, too_large
from insight.partner.uploads import _clean_filename
from insight.partner.versions import aware
from insight.sources import get_loader, ingest
from insight.store.models import Area, Feature, Layer, Upload, User

SURVEY_LOADER = "survey-responses"
SMALL_COUNT = 5
SMALL_LABEL = f"fewer than {SMALL_COUNT}"
REPORT_KIND = "survey"


def shown_count(n: int) -> str:
    """A respondent count as it may be shown: counts from 1 to 4 become "fewer than 5"."""
    return SMALL_LABEL if 0 < n < SMALL_COUNT else f"{n:,}"


def survey_specs(layers_dir: Path | str) -> list[LayerSpec]:
    """Layer definitions whose loader is ``survey-responses``, by title."""
    return sorted((s for s in load_specs(layers_dir) if s.loader == SURVEY_LOADER), key=lambda s: s.title)


def survey_spec(layers_dir: Path | str, name: str) -> LayerSpec:
    """The survey layer ``name``; ConfigError if it is not a layer of survey respondents."""
    for spec in load_specs(layers_dir):
        if spec.name == name:
            if spec.loader != SURVEY_LOADER:
                raise ConfigError(f"'{spec.title}' is not a survey layer (it loads with '{spec.loader}'); survey "
                                  "files can only replace layers whose loader is 'survey-responses'")
            return spec
    raise ConfigError(f"there is no layer definition named '{name}'; choose one of the survey layers listed")


@dataclass(frozen=True)
class StoredSurvey:
    """What a survey layer holds now: respondents in total and per wave, and where it came from."""

    respondents: int = 0
    waves: dict[str, int] = field(default_factory=dict)
    checksum: str | None = None
    loaded_at: datetime | None = None
    source_file: str | None = None

    @property
    def loaded(self) -> bool:
        return self.loaded_at is not None

    def state(self) -> str:
        """A token that changes whenever the layer is replaced."""
        when = self.loaded_at.isoformat() if self.loaded_at else "-"
        return f"{self.checksum or '-'}@{when}:{self.respondents}"


def stored_survey(conn: Connection, layer: str) -> StoredSurvey:
    """Counts of the stored layer (no respondent rows are read)."""
    row = conn.execute(select(Layer.id, Layer.source_checksum, Layer.loaded_at, Layer.source_file)
                       .where(Layer.name == layer)).one_or_none()
    if row is None:
        return StoredSurvey()
    counts = conn.execute(select(Feature.category, func.count()).where(Feature.layer_id == row.id)
                          .group_by(Feature.category)).all()
    waves = {str(wave) if wave is not None else "(no wave)": int(n) for wave, n in counts}
    return StoredSurvey(sum(waves.values()), dict(sorted(waves.items())), row.source_checksum,
                        aware(row.loaded_at), row.source_file)


@dataclass(frozen=True)
class SurveyCheck:
    """A survey file that passed every check, with counts for the preview. Nothing has been written."""

    layer: str
    title: str
    filename: str
    sha256: str
    size: int
    rows_read: int
    waves: dict[str, int]
    wards: dict[str, int]
    without_area: int
    notes: list[str]
    current: StoredSurvey

    def report(self, ward_names: dict[str, str] | None = None) -> dict[str, Any]:
        """A JSON-safe summary with small counts already suppressed, for the upload record and the page."""
        names = ward_names or {}
        return {
            "kind": REPORT_KIND, "layer": self.layer, "title": self.title, "filename": self.filename,
            "sha256": self.sha256, "size": self.size, "rows_read": self.rows_read,
            "waves": [{"wave": w, "respondents": shown_count(n)} for w, n in sorted(self.waves.items())],
            "wards_covered": len(self.wards),
            "wards": [{"code": code, "name": names.get(code), "respondents": shown_count(n)}
                      for code, n in sorted(self.wards.items(), key=lambda kv: (names.get(kv[0]) or kv[0]))],
            "without_area": self.without_area, "notes": self.notes,
            "replaces": {"loaded": self.current.loaded, "respondents": self.current.respondents,
                         "waves": [{"wave": w, "respondents": shown_count(n)} for w, n in self.current.waves.items()],
                         "source_file": self.current.source_file},
            "state": self.current.state(),
        }


def _counts(frame: pd.DataFrame) -> tuple[dict[str, int], dict[str, int], int]:
    waves = Counter(str(w) for w in frame["category"] if w is not None and not pd.isna(w))
    ward_codes = [p.get("ward_code") for p in frame["properties"]]
    lsoa_codes = [p.get("lsoa_code") for p in frame["properties"]]
    has_point = (frame.geometry.notna() & ~frame.geometry.is_empty).tolist()
    without = sum(1 for ward, lsoa, point in zip(ward_codes, lsoa_codes, has_point) if not (ward or lsoa or point))
    return dict(waves), dict(Counter(w for w in ward_codes if w)), without


def check_survey_file(
    engine: Engine,
    path: Path,
    spec: LayerSpec,
    *,
    actor: Principal,
    settings: Settings,
    filename: str | None = None,
) -> SurveyCheck:
    """Check the file at ``path`` as a new version of survey layer ``spec``; write nothing.

    Raises PermissionDenied without the ``upload_survey`` right, ConfigError if
    ``spec`` is not a survey layer, and LoadError with every problem (whole-file
    or row by row) if the file is refused.
    """
    require(actor, "upload_survey")
    if spec.loader != SURVEY_LOADER:
        raise ConfigError(f"'{spec.title}' is not a survey layer; survey files can only replace layers whose loader "
                          "is 'survey-responses'")
    filename = _clean_filename(filename or path.name)
    if not filename.lower().endswith(".csv"):
        raise LoadError(filename, [Problem("survey files are accepted as CSV only: save the file from your "
                                           "spreadsheet as 'CSV UTF-8 (comma delimited)' and upload it again")])
    read_upload(path, filename=filename, limits=UploadLimits.from_settings(settings))
    try:
        loaded = get_loader(spec.loader)(path, **spec.options)
    except LoadError as err:
        raise LoadError(filename, err.problems) from None
    waves, wards, without = _counts(loaded.frame)
    data = path.read_bytes()
    with engine.connect() as conn:
        current = stored_survey(conn, spec.name)
    return SurveyCheck(spec.name, spec.title, filename, ingest.file_checksum(path), len(data), loaded.rows_read,
                       waves, wards, without, list(loaded.notes), current)


@contextmanager
def _saved(content: bytes, filename: str) -> Iterator[Path]:
    safe = filename if filename.lower().endswith(".csv") and not filename.startswith(".") else "upload.csv"
    with tempfile.TemporaryDirectory(prefix="insight-survey-") as folder:
        path = Path(folder) / safe
        path.write_bytes(content)
        yield path


def ward_names(engine: Engine, codes: list[str]) -> dict[str, str]:
    """Names of the ward codes found in any loaded boundary layer."""
    if not codes:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(select(Area.code, Area.name).where(Area.code.in_(codes))).all()
    return {code: name for code, name in rows}


def _check_content(
    engine: Engine, content: bytes, filename: str, spec: LayerSpec, *, actor: Principal, settings: Settings
) -> SurveyCheck:
    if len(content) > settings.upload_max_bytes:
        raise LoadError(filename, [Problem(too_large(len(content), settings.upload_max_bytes))])
    with _saved(content, filename) as path:
        return check_survey_file(engine, path, spec, actor=actor, settings=settings, filename=filename)


def stage_survey(
    engine: Engine,
    content: bytes,
    *,
    filename: str,
    spec: LayerSpec,
    actor: Principal,
    settings: Settings,
    ip: str | None = None,
    restored_from: int | None = None,
) -> tuple[int, SurveyCheck]:
    """Check ``content`` and keep it (pending) with its report; nothing is written if it is refused."""
    filename = _clean_filename(filename)
    check = _check_content(engine, content, filename, spec, actor=actor, settings=settings)
    report = check.report(ward_names(engine, sorted(check.wards))) | {"restored_from": restored_from}
    with engine.begin() as conn:
        upload_id = conn.execute(insert(Upload).values(
            layer_name=spec.name, user_id=actor.id, org_id=None, filename=filename, content=content,
            sha256=check.sha256, size_bytes=len(content), status="pending", created_at=datetime.now(UTC),
            base_version=_committed_count(conn, spec.name), report=report,
        ).returning(Upload.id)).scalar_one()
        audit.record(conn, "upload_staged", actor_id=actor.id, actor_email=actor.email, ip=ip,
                     target=f"layer:{spec.name}",
                     detail={"kind": REPORT_KIND, "file": filename, "sha256": check.sha256, "upload": upload_id,
                             "rows_read": check.rows_read, "restored_from": restored_from})
    return upload_id, check


@dataclass(frozen=True)
class SurveyUpload:
    """A survey upload as its pages show it."""

    id: int
    layer: str
    filename: str
    status: str
    created_at: datetime
    decided_at: datetime | None
    user_email: str | None
    sha256: str
    version_number: int | None
    report: dict


def _committed_count(conn: Connection, layer: str) -> int:
    return conn.execute(select(func.count()).select_from(Upload)
                        .where(Upload.layer_name == layer, Upload.status == "committed")).scalar_one()


def _columns() -> tuple:
    return (Upload.id, Upload.layer_name, Upload.filename, Upload.status, Upload.created_at, Upload.decided_at,
            User.email, Upload.sha256, Upload.version_number, Upload.report)


def _as_upload(row: Any) -> SurveyUpload:
    return SurveyUpload(row[0], row[1], row[2], row[3], aware(row[4]), aware(row[5]), row[6], row[7], row[8],
                        row[9] or {})


def survey_upload(engine: Engine, upload_id: int, *, actor: Principal) -> SurveyUpload:
    """A survey upload; NotFoundError if there is none of that id (or it is not a survey upload)."""
    require(actor, "upload_survey")
    with engine.connect() as conn:
        row = conn.execute(select(*_columns()).outerjoin(User, User.id == Upload.user_id)
                           .where(Upload.id == upload_id)).one_or_none()
    if row is None or (row[9] or {}).get("kind") != REPORT_KIND:
        raise NotFoundError(f"no survey upload {upload_id}")
    return _as_upload(row)


def is_survey_upload(engine: Engine, upload_id: int) -> bool:
    """True if upload ``upload_id`` is a survey file (the asset upload pages must leave it alone)."""
    with engine.connect() as conn:
        report = conn.execute(select(Upload.report).where(Upload.id == upload_id)).scalar_one_or_none()
    return bool(report) and report.get("kind") == REPORT_KIND


def commit_survey(
    engine: Engine,
    upload_id: int,
    *,
    spec: LayerSpec,
    actor: Principal,
    settings: Settings,
    ip: str | None = None,
) -> SurveyUpload:
    """Re-check a pending survey upload and replace the layer with it; returns it with its version number.

    Refuses (ConfigError) if the upload is not pending, is for another layer, or
    the layer was replaced after the check; LoadError if the file no longer passes.
    """
    staged = survey_upload(engine, upload_id, actor=actor)
    if staged.status != "pending":
        raise ConfigError(f"upload {upload_id} ({staged.filename}) was already {staged.status}")
    if staged.layer != spec.name:
        raise ConfigError(f"upload {upload_id} is for layer '{staged.layer}', not '{spec.name}'")
    with engine.connect() as conn:
        content = bytes(conn.execute(select(Upload.content).where(Upload.id == upload_id)).scalar_one())
    with _saved(content, staged.filename) as path:
        check = check_survey_file(engine, path, spec, actor=actor, settings=settings, filename=staged.filename)
        if check.current.state() != staged.report.get("state"):
            raise ConfigError(f"'{spec.title}' was replaced after {staged.filename} was checked; upload the file "
                              "again to see what it would replace now")

        def record(conn: Connection, _layer_id: int) -> None:
            number = _committed_count(conn, spec.name) + 1
            done = conn.execute(update(Upload).where(Upload.id == upload_id, Upload.status == "pending").values(
                status="committed", decided_at=datetime.now(UTC), version_number=number))
            if done.rowcount != 1:
                raise ConfigError(f"upload {upload_id} ({staged.filename}) was decided by someone else meanwhile")
            detail = {"kind": REPORT_KIND, "file": staged.filename, "sha256": staged.sha256, "upload": upload_id,
                      "version": number, "respondents": check.rows_read}
            audit.record(conn, "upload_committed", actor_id=actor.id, actor_email=actor.email, ip=ip,
                         target=f"layer:{spec.name}", detail=detail)
            restored_from = staged.report.get("restored_from")
            if restored_from is not None:
                audit.record(conn, "version_restored", actor_id=actor.id, actor_email=actor.email, ip=ip,
                             target=f"layer:{spec.name}", detail=detail | {"restored_from": restored_from})

        ingest.load_layer(engine, spec, path, after_write=record)
    return survey_upload(engine, upload_id, actor=actor)


def discard_survey(engine: Engine, upload_id: int, *, actor: Principal, ip: str | None = None) -> SurveyUpload:
    """Mark a pending survey upload discarded (its file is kept); the layer is not touched."""
    staged = survey_upload(engine, upload_id, actor=actor)
    if staged.status != "pending":
        raise ConfigError(f"upload {upload_id} ({staged.filename}) was already {staged.status}")
    with engine.begin() as conn:
        conn.execute(update(Upload).where(Upload.id == upload_id).values(status="discarded",
                                                                         decided_at=datetime.now(UTC)))
        audit.record(conn, "upload_discarded", actor_id=actor.id, actor_email=actor.email, ip=ip,
                     target=f"layer:{staged.layer}",
                     detail={"kind": REPORT_KIND, "upload": upload_id, "file": staged.filename})
    return staged


def survey_history(engine: Engine, layer: str, *, actor: Principal) -> list[SurveyUpload]:
    """Committed survey uploads of ``layer``, newest version first."""
    require(actor, "upload_survey")
    with engine.connect() as conn:
        rows = conn.execute(select(*_columns()).outerjoin(User, User.id == Upload.user_id)
                            .where(Upload.layer_name == layer, Upload.status == "committed")
                            .order_by(Upload.version_number.desc())).all()
    return [_as_upload(r) for r in rows if (r[9] or {}).get("kind") == REPORT_KIND]


def restore_survey(
    engine: Engine,
    layer: str,
    number: int,
    *,
    spec: LayerSpec,
    actor: Principal,
    settings: Settings,
    ip: str | None = None,
) -> SurveyUpload:
    """Commit the file of version ``number`` again, as a new version (officers and admins)."""
    require(actor, "restore")
    earlier = next((u for u in survey_history(engine, layer, actor=actor) if u.version_number == number), None)
    if earlier is None:
        raise NotFoundError(f"'{spec.title}' has no version {number}")
    with engine.connect() as conn:
        content = bytes(conn.execute(select(Upload.content).where(Upload.id == earlier.id)).scalar_one())
    upload_id, _ = stage_survey(engine, content, filename=earlier.filename, spec=spec, actor=actor,
                                settings=settings, ip=ip, restored_from=number)
    return commit_survey(engine, upload_id, spec=spec, actor=actor, settings=settings, ip=ip)


def last_upload(engine: Engine, layer: str, *, actor: Principal) -> SurveyUpload | None:
    """The newest committed survey upload of ``layer``, if any."""
    history = survey_history(engine, layer, actor=actor)
    return history[0] if history else None
