"""From a layer definition or a user's file to the store: load, check, flag, write atomically."""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from insight.errors import ConfigError, LoadError, Problem
from insight.geo.crs import inside_mask
from insight.geo.joins import assign_points
from insight.layers import LayerSpec, parse_spec
from insight.sources import get_loader
from insight.sources.base import Loaded, text_reader
from insight.sources.points import POSTCODE_COLUMN
from insight.sources.postcodes import place_by_postcode
from insight.sources.stream import StreamedFile, StreamReader, is_large, stream_reader
from insight.store import Connection, Engine, authority_geometry, write_layer
from insight.store.counts import PointValues, point_values, refresh_statistics, store_counts
from insight.store.io import (
    AfterWrite,
    Progress,
    areas_for_tagging,
    layer_ids,
    replace_tags,
    tag_indexes_deferred,
)
from insight.store.io_stream import write_points_stream

Echo = Callable[[str], None]

_MAX_LENGTHS = {
    "boundary": {"code": 64, "name": 200},
    "points": {"source_id": 100, "name": 300, "category": 100},
    "indicator": {"area_code": 64, "area_name": 200, "geography": 50, "indicator": 200, "period": 20},
    "lookup": {"from_code": 64, "to_code": 64, "from_name": 200, "to_name": 200},
}


@dataclass
class LoadReport:
    """What a load did, for the user and for the layer's provenance record."""

    layer: str
    kind: str
    rows_read: int
    stored: int
    repaired: int = 0
    outside_authority: int = 0
    no_location: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data, stored with the layer."""
        return dict(self.__dict__)

    def summary(self) -> str:
        """One line for the user: what was stored, repaired and flagged, and how long it took."""
        parts = [f"{self.stored:,} {'areas' if self.kind == 'boundary' else 'rows'} stored"]
        if self.repaired:
            parts.append(f"{self.repaired} invalid geometries repaired")
        if self.kind == "points":
            parts.append(f"{self.outside_authority:,} outside the authority (kept, flagged)")
            if self.no_location:
                parts.append(f"{self.no_location:,} without a location (kept)")
        return f"{self.layer}: " + ", ".join(parts) + f" in {self.seconds:.1f} s"


def file_checksum(path: Path) -> str:
    """SHA-256 of a file, recorded with the layer so a figure can be traced to its input."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _text_lengths(values: pd.Series) -> np.ndarray:
    """Length of each text value (0 for anything that is not text)."""
    text = values.to_numpy(dtype=object)
    is_text = np.fromiter((isinstance(v, str) for v in text), dtype=bool, count=len(text))
    lengths = np.zeros(len(text), dtype=np.int64)
    if is_text.any():
        lengths[is_text] = pd.Series(text[is_text], dtype=object).str.len().to_numpy(dtype=np.int64)
    return lengths


def _length_problems(frame: pd.DataFrame, kind: str, first_row: int = 1) -> list[Problem]:
    """Text longer than its column in the store allows (at most 50 rows a column), rows numbered from ``first_row``."""
    problems = []
    for column, limit in _MAX_LENGTHS[kind].items():
        if column not in frame:
            continue
        for position in np.flatnonzero(_text_lengths(frame[column]) > limit)[:50]:
            problems.append(Problem(f"text is longer than {limit} characters", row=int(position) + first_row,
                                    column=column))
    return problems


def _first_lengths(problems: list[Problem], kind: str) -> list[Problem]:
    """Length problems found chunk by chunk, in the order and number :func:`_check_lengths` gives for the file."""
    return [p for column in _MAX_LENGTHS[kind]
            for p in sorted((q for q in problems if q.column == column), key=lambda q: q.row or 0)[:50]]


def _check_lengths(frame: pd.DataFrame, kind: str, source: str) -> None:
    """LoadError listing text longer than its column in the store allows."""
    problems = _length_problems(frame, kind)
    if problems:
        raise LoadError(source, problems)


def _period(frame: pd.DataFrame, kind: str) -> tuple[str | None, str | None]:
    """First and last month (points) or period (indicators) in the frame, for the layer's record."""
    column = {"points": "month", "indicator": "period"}.get(kind)
    if column is None or column not in frame:
        return (None, None)
    values = frame[column].dropna()
    return (str(values.min()), str(values.max())) if len(values) else (None, None)


def retag(conn: Connection, *, point_layers: list[int], boundary_layers: list[int]) -> int:
    """Recompute which area of each boundary layer every point of ``point_layers`` falls in, and the counts.

    Runs inside the caller's transaction, so a load and its tags land together.
    Returns the number of tags written.
    """
    return retag_values(conn, {pid: point_values(conn, pid) for pid in point_layers}, boundary_layers)


def retag_values(conn: Connection, points: dict[int, PointValues], boundary_layers: list[int]) -> int:
    """:func:`retag` for point layers whose values are at hand (e.g. kept while writing them)."""
    written = 0
    coming = sum(len(v.ids) for v in points.values()) * len(boundary_layers)
    with tag_indexes_deferred(conn, coming):
        for bid in boundary_layers:
            area_ids, geoms = areas_for_tagging(conn, bid)
            for pid, values in points.items():
                index = assign_points(values.x, values.y, geoms)
                tagged = np.where(index >= 0, area_ids[np.clip(index, 0, None)], -1)
                replace_tags(conn, boundary_layer_id=bid, point_layer_id=pid, feature_ids=values.ids, area_ids=tagged)
                store_counts(conn, values, point_layer_id=pid, boundary_layer_id=bid, area_ids=tagged)
                written += int((tagged >= 0).sum())
    for pid, values in points.items():
        store_counts(conn, values, point_layer_id=pid, boundary_layer_id=None)
    refresh_statistics(conn, rows=sum(len(v.ids) for v in points.values()))
    return written


def _chain(*hooks: AfterWrite | None) -> AfterWrite | None:
    """One hook that runs each of ``hooks`` in turn (None when there are none)."""
    present = [h for h in hooks if h is not None]
    if not present:
        return None

    def run(conn: Connection, layer_id: int) -> None:
        for hook in present:
            hook(conn, layer_id)

    return run


def _tagger(kind: str) -> AfterWrite | None:
    """The hook that tags a new layer's points with their areas (or every point with a new layer's areas)."""

    def tag_points(conn: Connection, layer_id: int) -> None:
        retag(conn, point_layers=[layer_id], boundary_layers=layer_ids(conn, "boundary"))

    def tag_areas(conn: Connection, layer_id: int) -> None:
        retag(conn, point_layers=layer_ids(conn, "points"), boundary_layers=[layer_id])

    return {"points": tag_points, "boundary": tag_areas}.get(kind)


def _read(name: str, path: Path, options: dict[str, Any]) -> Loaded:
    """Run loader ``name``, through its ingest reader (properties as JSON text) when it has one."""
    reader = None if options else text_reader(name)
    return reader(path) if reader is not None else get_loader(name)(path, **options)


def load_layer(
    engine: Engine,
    spec: LayerSpec,
    path: Path,
    *,
    loader: str | None = None,
    progress: Progress | None = None,
    after_write: AfterWrite | None = None,
) -> LoadReport:
    """Load ``path`` as layer ``spec`` and replace that layer in the store in one transaction.

    Points are flagged against the authority boundary when one is loaded:
    points outside are kept and counted, never dropped. ``after_write(conn,
    layer_id)`` runs last in the same transaction (e.g. to record the upload
    that made this version), so the layer and that record change together or
    not at all.
    """
    started = time.perf_counter()
    if not path.is_file():
        raise LoadError(path.name, [Problem(f"file not found: {path}")])
    streamer = None if spec.options else stream_reader(loader or spec.loader)
    if streamer is not None and spec.kind == "points" and is_large(path):
        return _load_streamed(engine, spec, path, streamer, progress=progress, after_write=after_write)
    loaded = _read(loader or spec.loader, path, spec.options)
    if loaded.kind != spec.kind:
        raise ConfigError(
            f"layer '{spec.name}' is declared as kind '{spec.kind}' but loader "
            f"'{loader or spec.loader}' produces '{loaded.kind}'"
        )
    frame = loaded.frame
    if POSTCODE_COLUMN in frame.columns:
        frame, notes = place_by_postcode(engine, frame, POSTCODE_COLUMN)
        loaded.notes += notes
    _check_lengths(frame, spec.kind, path.name)
    report = LoadReport(
        layer=spec.name, kind=spec.kind, rows_read=loaded.rows_read, stored=len(frame),
        repaired=loaded.repaired, notes=list(loaded.notes),
    )
    if spec.kind == "points":
        report.stored = 0
        authority = authority_geometry(engine)
        frame = _flag_points(frame, authority, report)
        if authority is None:
            report.notes.append(_NO_AUTHORITY)
    write_layer(
        engine,
        spec.metadata(),
        spec.kind,
        frame,
        report=report.as_dict() | {"seconds": round(time.perf_counter() - started, 3)},
        source_file=path.name,
        checksum=file_checksum(path),
        is_authority=spec.authority,
        owner=spec.owner,
        period=_period(frame, spec.kind),
        progress=progress,
        after_write=_chain(_tagger(spec.kind), after_write),
    )
    report.seconds = time.perf_counter() - started
    return report


_NO_AUTHORITY = "no authority boundary loaded: points were not checked against it"


def _flag_points(frame: pd.DataFrame, authority: BaseGeometry | None, report: LoadReport) -> pd.DataFrame:
    """``frame`` with ``inside_authority`` set (None without an authority), counted into ``report``."""
    frame = frame.copy(deep=False)
    missing = frame.geometry.isna() | frame.geometry.is_empty
    report.no_location += int(missing.sum())
    report.stored += len(frame)
    if authority is not None:
        frame["inside_authority"] = inside_mask(frame.geometry, authority)
        report.outside_authority += int((frame["inside_authority"] == False).sum())  # noqa: E712
    else:
        frame["inside_authority"] = None
    return frame


def _row_progress(progress: Progress | None, streamed: StreamedFile) -> Callable[[int], None] | None:
    """Rows written so far reported against an estimate of the file's rows (from the bytes read)."""
    if progress is None:
        return None

    def show(rows: int) -> None:
        estimate = int(rows / streamed.fraction) if streamed.fraction > 0 else rows
        progress(rows, max(estimate, rows + 1))

    return show


def _load_streamed(
    engine: Engine, spec: LayerSpec, path: Path, reader: StreamReader, *,
    progress: Progress | None, after_write: AfterWrite | None,
) -> LoadReport:
    """:func:`load_layer` for a large points file, read, checked and written a chunk at a time.

    Every chunk gets the checks of the whole-file path and the same report, notes and
    stored rows result; on any problem nothing is kept (one transaction).
    """
    started = time.perf_counter()
    streamed = StreamedFile(path, reader, extra=lambda frame, first: _length_problems(frame, "points", first))
    report = LoadReport(layer=spec.name, kind="points", rows_read=0, stored=0)
    authority = authority_geometry(engine)
    months: list[str] = []

    def frames() -> Iterator[pd.DataFrame]:
        for _, frame in streamed.frames():
            present = frame["month"].dropna()
            months.extend([str(present.min()), str(present.max())] if len(present) else [])
            yield _flag_points(frame, authority, report)
        streamed.late = _first_lengths(streamed.late, "points")
        streamed.raise_problems()

    def finish() -> dict[str, Any]:
        report.rows_read = streamed.rows_read
        report.notes = streamed.notes() + ([] if authority is not None else [_NO_AUTHORITY])
        if progress:
            progress(report.stored, report.stored)
        return {
            "feature_count": report.stored, "period_start": min(months) if months else None,
            "period_end": max(months) if months else None, "source_checksum": streamed.checksum(),
            "load_report": report.as_dict() | {"seconds": round(time.perf_counter() - started, 3)},
        }

    def tag(conn: Connection, layer_id: int, values: PointValues) -> None:
        retag_values(conn, {layer_id: values}, layer_ids(conn, "boundary"))

    write_points_stream(
        engine, spec.metadata(), frames(), finish=finish, source_file=path.name, is_authority=spec.authority,
        owner=spec.owner, progress=_row_progress(progress, streamed), tag=tag, after_write=after_write,
    )
    report.seconds = time.perf_counter() - started
    return report


def load_specs_into(
    engine: Engine,
    specs: list[LayerSpec],
    data_dir: Path,
    *,
    echo: Echo = print,
    progress: Callable[[str], Progress] | None = None,
) -> list[LoadReport]:
    """Load every layer in order (boundaries before points), echoing one line per layer."""
    reports = []
    for i, spec in enumerate(specs, start=1):
        if spec.file is None:
            echo(f"[{i}/{len(specs)}] {spec.name}: no file in its definition, skipped")
            continue
        echo(f"[{i}/{len(specs)}] {spec.name} ← {spec.file}")
        report = load_layer(
            engine, spec, data_dir / spec.file, progress=progress(spec.name) if progress else None
        )
        echo("        " + report.summary())
        reports.append(report)
    return reports


def adhoc_spec(
    name: str,
    *,
    kind: str,
    loader: str,
    title: str | None = None,
    area_type: str | None = None,
    vintage: str | None = None,
    geography: str | None = None,
    source: str | None = None,
    publisher: str | None = None,
    licence: str | None = None,
    attribution: str | None = None,
    sensitivity: str = "public",
    authority: bool = False,
    options: dict[str, Any] | None = None,
    theme: str | None = None,
    asset_kind: str | None = None,
    description: str | None = None,
    illustrative: bool = False,
) -> LayerSpec:
    """A layer definition for a file imported from the command line without a ``layers/`` file."""
    raw: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "title": title or name.replace("_", " ").capitalize(),
        "loader": loader,
        "source": source or "Imported from a local file",
        "publisher": publisher or "Not stated",
        "licence": licence or "Not stated",
        "attribution": attribution or "Not stated",
        "sensitivity": sensitivity,
        "authority": authority,
        "options": options or {},
    }
    if illustrative:
        raw["illustrative"] = True
    for key, value in (("area_type", area_type), ("vintage", vintage), ("geography", geography), ("theme", theme),
                       ("asset_kind", asset_kind), ("description", description)):
        if value is not None:
            raw[key] = value
    return parse_spec(raw, where="command line")
