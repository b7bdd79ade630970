"""Large police bulk files are read, checked and written a chunk at a time, with the results of a whole-file load."""
from __future__ import annotations

import csv
import gzip
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from insight.errors import LoadError
from insight.layers import load_specs
from insight.sources import police, stream
from insight.sources.ingest import adhoc_spec, load_layer, load_specs_into
from insight.sources.stream import StreamedFile
from insight.store import io_stream
from insight.store.counts import read_counts

from .conftest import DATA_DIR, LAYERS_DIR

SAMPLE = DATA_DIR / "points" / "police_bulk_barnet_burglary_2010-12_2023-03.csv.gz"
HEADER = ["Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude", "Location",
          "LSOA code", "LSOA name", "Crime type", "Last outcome category", "Context"]
CATEGORIES = ["Burglary", "Robbery", "Violent crime", "Anti-social behaviour", "Public disorder and weapons"]


def _rows(n: int, seed: int) -> list[list[str]]:
    """Bulk rows with blank and repeated Crime IDs, legacy categories, missing coordinates and quoted newlines."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        lon, lat = -0.3 + rng.random() * 0.2, 51.55 + rng.random() * 0.1
        crime_id = "" if i % 7 == 0 else f"c{seed}-{i % 180}"
        where = f"On or near \"Street\"\n{i}" if i % 11 == 0 else f"On or near Street {i}"
        located = i % 13 != 5
        rows.append([crime_id, f"20{10 + i % 13}-{1 + i % 12:02d}", "Met", "Met",
                     f"{lon:.6f}" if located else "", f"{lat:.6f}" if located else "", where,
                     "E01000116", "Barnet, 009B", CATEGORIES[i % len(CATEGORIES)], "", ""])
    return rows


def _write(path: Path, rows: list[list[str]], *, blank_lines: bool = False) -> Path:
    lines = [HEADER, *rows]
    encoding = "utf-8-sig" if "bom" in path.name else "utf-8"
    with (gzip.open(path, "wt", newline="") if path.suffix == ".gz"
          else path.open("w", newline="", encoding=encoding)) as fh:
        writer = csv.writer(fh)
        for i, row in enumerate(lines):
            writer.writerow(row)
            if blank_lines and i % 97 == 3:
                fh.write("\r\n")
    return path


def _streamed(path: Path, block_bytes: int) -> tuple[pd.DataFrame, StreamedFile, list[int]]:
    reader = stream.stream_reader("police-bulk")
    assert reader is not None
    streamed = StreamedFile(path, reader, block_bytes=block_bytes)
    parts = list(streamed.frames())
    streamed.raise_problems()
    frame = pd.concat([f for _, f in parts], ignore_index=True)
    return frame, streamed, [first for first, _ in parts]


@pytest.mark.parametrize("name", ["bulk.csv", "bulk.csv.gz", "bulk-bom.csv"])
def test_chunks_give_the_rows_and_notes_of_the_whole_file(tmp_path: Path, name: str) -> None:
    """Blocks cut anywhere (even inside quoted newlines) give the same rows, properties, notes and checksum."""
    path = _write(tmp_path / name, _rows(1500, 1), blank_lines=True)
    whole = police.read_police_bulk(path)
    frame, streamed, firsts = _streamed(path, block_bytes=4000)
    assert len(firsts) > 20
    assert firsts[0] == 1 and firsts == sorted(firsts)
    assert streamed.rows_read == whole.rows_read == 1500
    assert streamed.notes() == whole.notes
    assert any("share a Crime ID" in n for n in whole.notes) and any("legacy" in n for n in whole.notes)
    for column in ("source_id", "name", "category", "month", "properties"):
        assert frame[column].tolist() == whole.frame[column].tolist(), column
    assert frame.geometry.equals(whole.frame.reset_index(drop=True).geometry)
    assert streamed.checksum() == hashlib.sha256(path.read_bytes()).hexdigest()


def _problems(load) -> list[tuple]:
    with pytest.raises(LoadError) as info:
        load()
    return [(p.reason, p.row, p.column) for p in info.value.problems]


@pytest.mark.parametrize("broken", ["values", "fields"])
def test_problems_are_those_of_the_whole_file_with_file_rows(tmp_path: Path, broken: str) -> None:
    """Problems in several chunks are all reported, numbered from the start of the file, as a whole-file read does."""
    rows = _rows(900, 2)
    rows[3][1] = "2019-13"
    rows[450][4] = "east"
    rows[898][9] = "Jaywalking"
    if broken == "fields":
        rows[700] = rows[700][:5]
    path = _write(tmp_path / "bad.csv", rows)
    whole = _problems(lambda: police.read_police_bulk(path))
    streamed = _problems(lambda: _streamed(path, block_bytes=3000))
    assert streamed == whole
    rows_named = [p[1] for p in whole]
    assert rows_named == ([701] if broken == "fields" else [4, 451, 899])


@pytest.fixture
def boundaries(store):
    specs = [s for s in load_specs(LAYERS_DIR) if s.name in ("borough", "wards_2022")]
    load_specs_into(store.engine, specs, DATA_DIR, echo=lambda _: None)
    return store


def _layer(store, name: str) -> tuple[list[tuple], list[tuple], tuple]:
    """Features (in load order), their tags (by load order) and the layer's record, free of database ids."""
    with store.engine.connect() as conn:
        layer = conn.execute(text(
            "SELECT id, feature_count, period_start, period_end, source_checksum FROM layers WHERE name = :n"
        ), {"n": name}).one()
        features = conn.execute(text(
            "SELECT id, source_id, name, category, month, inside_authority, properties, ST_X(geom), ST_Y(geom) "
            "FROM features WHERE layer_id = :l ORDER BY id"), {"l": layer[0]}).all()
        order = {r[0]: i for i, r in enumerate(features)}
        tags = conn.execute(text(
            "SELECT t.boundary_layer_id, t.feature_id, a.code FROM feature_tags t JOIN areas a ON a.id = t.area_id "
            "JOIN features f ON f.id = t.feature_id WHERE f.layer_id = :l"), {"l": layer[0]}).all()
    return ([tuple(r[1:]) for r in features], sorted((b, order[f], c) for b, f, c in tags), tuple(layer[1:]))


def test_streamed_load_stores_what_a_whole_file_load_stores(boundaries, monkeypatch) -> None:
    """The shipped bulk file loaded in chunks gives the features, tags, counts and report of a whole-file load."""
    store = boundaries
    whole = load_layer(store.engine, adhoc_spec("whole", kind="points", loader="police-bulk"), SAMPLE)
    calls = []
    write = io_stream.write_point_rows
    monkeypatch.setattr(io_stream, "write_point_rows", lambda *a, **k: calls.append(1) or write(*a, **k))
    monkeypatch.setattr(stream, "STREAM_BYTES", 0)
    monkeypatch.setattr(stream, "BLOCK_BYTES", 1 << 20)
    streamed = load_layer(store.engine, adhoc_spec("streamed", kind="points", loader="police-bulk"), SAMPLE)
    assert len(calls) >= 5
    for field in ("rows_read", "stored", "repaired", "outside_authority", "no_location", "notes"):
        assert getattr(streamed, field) == getattr(whole, field), field
    assert whole.stored == 44138 and whole.outside_authority > 0
    assert _layer(store, "streamed") == _layer(store, "whole")
    for boundary in (None, "borough", "wards_2022"):
        counts = [read_counts(store.engine, name, boundary).sort_values(["area_code", "month", "category"],
                                                                         na_position="first", ignore_index=True)
                  for name in ("whole", "streamed")]
        pd.testing.assert_frame_equal(counts[0], counts[1])
        assert counts[0]["n"].sum() > 0
    with store.engine.connect() as conn:
        reports = conn.execute(text("SELECT name, load_report FROM layers WHERE name IN ('whole', 'streamed')")).all()
    stored = {n: (r if isinstance(r, dict) else __import__("json").loads(r)) for n, r in reports}
    for report in stored.values():
        report.pop("seconds")
        report.pop("layer")
    assert stored["whole"] == stored["streamed"]


def test_a_bad_row_in_the_last_chunk_leaves_the_store_as_it_was(boundaries, tmp_path, monkeypatch) -> None:
    """Earlier chunks are written in the load's transaction; a problem found later rolls all of it back."""
    store = boundaries
    spec = adhoc_spec("bulk", kind="points", loader="police-bulk")
    load_layer(store.engine, spec, _write(tmp_path / "first.csv", _rows(300, 3)))
    with store.engine.connect() as conn:
        before = {t: conn.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all()
                  for t in ("layers", "features", "feature_tags", "area_counts")}
    monkeypatch.setattr(stream, "STREAM_BYTES", 0)
    monkeypatch.setattr(stream, "BLOCK_BYTES", 5000)
    calls = []
    write = io_stream.write_point_rows
    monkeypatch.setattr(io_stream, "write_point_rows", lambda *a, **k: calls.append(1) or write(*a, **k))
    rows = _rows(1200, 4)
    rows[1195][5] = "95.5"
    with pytest.raises(LoadError) as info:
        load_layer(store.engine, spec, _write(tmp_path / "second.csv", rows))
    assert [(p.row, p.column) for p in info.value.problems] == [(1196, "Latitude")]
    assert len(calls) >= 5
    with store.engine.connect() as conn:
        after = {t: conn.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all() for t in before}
    assert after == before
    if store.backend == "spatialite":
        with store.engine.connect() as conn:
            triggers = conn.execute(text(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'features'"
            )).scalar_one()
        assert triggers == 8


def test_long_text_is_reported_as_by_a_whole_file_load(store, tmp_path, monkeypatch) -> None:
    """Text too long for the store, in many chunks, gives the first 50 rows a column, as a whole-file load does."""
    rows = _rows(1000, 5)
    for i in range(3, 1000, 9):
        rows[i][6] = "x" * 301
    rows[997][0] = "y" * 101
    path = _write(tmp_path / "long.csv", rows)
    spec = adhoc_spec("bulk", kind="points", loader="police-bulk")
    whole = _problems(lambda: load_layer(store.engine, spec, path))
    monkeypatch.setattr(stream, "STREAM_BYTES", 0)
    monkeypatch.setattr(stream, "BLOCK_BYTES", 4000)
    blocks = []
    read = stream.read_csv_text
    monkeypatch.setattr(stream, "read_csv_text", lambda *a, **k: blocks.append(1) or read(*a, **k))
    streamed = _problems(lambda: load_layer(store.engine, spec, path))
    assert len(blocks) >= 10
    assert streamed == whole
    assert len(whole) == 51 and whole[0] == ("text is longer than 100 characters", 998, "source_id")
    assert whole[-1][1:] == (3 + 9 * 49 + 1, "name")
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM layers")).scalar_one() == 0
