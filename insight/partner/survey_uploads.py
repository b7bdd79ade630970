"""Web uploads of resident-survey respondent files: check, preview counts only, then replace the layer.

Respondent rows are restricted: they never leave the server. A check reads the
file as hostile input (:mod:`insight.partner.safe_files`), runs the layer's own
``survey-responses`` loader over it and reports counts only — rows read,
respondents per wave and per ward (counts below :data:`SMALL_COUNT` are shown as
"fewer than 5"), respondents without an area — and what the upload would replace.
A refused file raises :class:`~insight.errors.LoadError` with every row problem.

``stage_survey`` keeps the file, its report and the loaded respondents in ``uploads``
(pending; :mod:`insight.partner.staging`); ``commit_survey`` replaces the layer with
the respondents kept at the check, without reading the file again, and in the same
transaction numbers the upload as the layer's next version and audits it. Every
committed file stays, so ``restore_survey`` can stage an earlier version's file again
and commit it.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from insight.config import Settings
from insight.errors import ConfigError, LoadError, NotFoundError, Problem
from insight.layers import LayerSpec, load_specs
from insight.partner import staging
from insight.partner.auth import Principal, require
from insight.partner.safe_files import UploadLimits, read_upload
from insight.partner.staging import Checked, Finish, StagedFile
from insight.partner.survey_frames import check_loaded, frame_as_json, frame_from_json, write_respondents
from insight.sources import get_loader
from insight.store import Connection, Engine
from insight.store.uploads import area_names, category_counts

SURVEY_LOADER = "survey-responses"
SMALL_COUNT = 5
SMALL_LABEL = f"fewer than {SMALL_COUNT}"
REPORT_KIND = "survey"
SurveyUpload = StagedFile
SURVEY = staging.Kind(REPORT_KIND, "survey upload", right="upload_survey")


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
        """True if the layer is in the store."""
        return self.loaded_at is not None

    def state(self) -> str:
        """A token that changes whenever the layer is replaced."""
        when = self.loaded_at.isoformat() if self.loaded_at else "-"
        return f"{self.checksum or '-'}@{when}:{self.respondents}"


def stored_survey(conn: Connection, layer: str) -> StoredSurvey:
    """Counts of the stored layer (no respondent rows are read)."""
    stored = category_counts(conn, layer)
    if stored is None:
        return StoredSurvey()
    waves = {str(wave) if wave is not None else "(no wave)": n for wave, n in stored.counts.items()}
    return StoredSurvey(sum(waves.values()), dict(sorted(waves.items())), stored.checksum, stored.loaded_at,
                        stored.source_file)


@dataclass(frozen=True)
class SurveyCheck:
    """A survey file that passed every check, with counts for the preview. Nothing has been written.

    ``frame`` holds the respondents as the loader read them: what a commit writes.
    """

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
    frame: gpd.GeoDataFrame | None = field(default=None, repr=False, compare=False)

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

    def result(self) -> dict[str, Any]:
        """What a commit of this check writes, as JSON: the respondents, rows read and notes."""
        if self.frame is None:
            raise ConfigError(f"{self.filename}: this check kept no respondents to commit; check the file again")
        return {"rows_read": self.rows_read, "notes": list(self.notes), "frame": frame_as_json(self.frame)}


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
    filename = staging.clean_filename(filename or path.name)
    if not filename.lower().endswith(".csv"):
        raise LoadError(filename, [Problem("survey files are accepted as CSV only: save the file from your "
                                           "spreadsheet as 'CSV UTF-8 (comma delimited)' and upload it again")])
    read_upload(path, filename=filename, limits=UploadLimits.from_settings(settings))
    try:
        loaded = get_loader(spec.loader)(path, **spec.options)
    except LoadError as err:
        raise LoadError(filename, err.problems) from None
    check_loaded(loaded, spec, filename)
    waves, wards, without = _counts(loaded.frame)
    data = path.read_bytes()
    with engine.connect() as conn:
        current = stored_survey(conn, spec.name)
    return SurveyCheck(spec.name, spec.title, filename, hashlib.sha256(data).hexdigest(), len(data),
                       loaded.rows_read, waves, wards, without, list(loaded.notes), current, loaded.frame)


def ward_names(engine: Engine, codes: list[str]) -> dict[str, str]:
    """Names of the ward codes found in any loaded boundary layer."""
    return area_names(engine, codes)


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
    """Check ``content`` and keep it (pending) with its report and respondents; nothing is written if refused."""
    def check(path: Path, name: str) -> tuple[SurveyCheck, Checked]:
        found = check_survey_file(engine, path, spec, actor=actor, settings=settings, filename=name)
        report = found.report(ward_names(engine, sorted(found.wards))) | {"restored_from": restored_from}
        with engine.connect() as conn:
            base = staging.committed_count(conn, SURVEY, spec.name)
        kept = Checked(spec.name, found.sha256, report, found.result(),
                       audit={"rows_read": found.rows_read, "restored_from": restored_from}, base_version=base)
        return found, kept

    return staging.stage(engine, SURVEY, content, filename=filename, check=check, actor=actor, settings=settings,
                         ip=ip)


def survey_upload(engine: Engine, upload_id: int, *, actor: Principal) -> SurveyUpload:
    """A survey upload; NotFoundError if there is none of that id (or it is not a survey upload)."""
    return staging.lookup(engine, SURVEY, upload_id, actor=actor)


def is_survey_upload(engine: Engine, upload_id: int) -> bool:
    """True if upload ``upload_id`` is a survey file (the asset upload pages must leave it alone)."""
    return staging.kind_of(engine, upload_id) == SURVEY.name


def _replaced(spec: LayerSpec, staged: StagedFile) -> ConfigError:
    return ConfigError(f"'{spec.title}' was replaced after {staged.filename} was checked; upload the file again to "
                       "see what it would replace now")


def commit_survey(
    engine: Engine,
    upload_id: int,
    *,
    spec: LayerSpec,
    actor: Principal,
    settings: Settings,
    ip: str | None = None,
) -> SurveyUpload:
    """Replace the layer with the respondents checked when the upload was staged; returns it with its version.

    The file is not read again (``settings`` is kept for callers). Refuses
    (ConfigError) if the upload is not pending, is for another layer, or the layer
    was replaced after the check.
    """
    def write(staged: StagedFile, result: Any, finish: Finish) -> None:
        with engine.connect() as conn:
            if stored_survey(conn, spec.name).state() != staged.report.get("state"):
                raise _replaced(spec, staged)

        def record(conn: Connection, _layer_id: int) -> None:
            number = staging.committed_count(conn, SURVEY, spec.name) + 1
            if staged.base_version is not None and number != staged.base_version + 1:
                raise _replaced(spec, staged)
            finish(conn, number, {"respondents": result["rows_read"]})

        write_respondents(engine, spec, frame_from_json(result["frame"]), rows_read=result["rows_read"],
                          notes=result["notes"], filename=staged.filename, sha256=staged.sha256, after_write=record)

    staging.commit(engine, SURVEY, upload_id, write=write, actor=actor, ip=ip, layer=spec.name)
    return survey_upload(engine, upload_id, actor=actor)


def discard_survey(engine: Engine, upload_id: int, *, actor: Principal, ip: str | None = None) -> SurveyUpload:
    """Mark a pending survey upload discarded (its file is kept); the layer is not touched."""
    return staging.discard(engine, SURVEY, upload_id, actor=actor, ip=ip)


def survey_history(engine: Engine, layer: str, *, actor: Principal) -> list[SurveyUpload]:
    """Committed survey uploads of ``layer``, newest version first."""
    return staging.history(engine, SURVEY, layer, actor=actor)


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
    earlier = staging.committed_file(engine, SURVEY, layer, number, actor=actor)
    if earlier is None:
        raise NotFoundError(f"'{spec.title}' has no version {number}")
    staged, content = earlier
    upload_id, _ = stage_survey(engine, content, filename=staged.filename, spec=spec, actor=actor,
                                settings=settings, ip=ip, restored_from=number)
    return commit_survey(engine, upload_id, spec=spec, actor=actor, settings=settings, ip=ip)


def last_upload(engine: Engine, layer: str, *, actor: Principal) -> SurveyUpload | None:
    """The newest committed survey upload of ``layer``, if any."""
    history = survey_history(engine, layer, actor=actor)
    return history[0] if history else None
