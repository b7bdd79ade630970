"""Postcode files (NSPL, ONSPD, Code-Point Open): read, stored whole or not at all, and found by
postcode, sector and district. Expected figures come from SOURCES.md section 16 and from reading
the real NSPL extract with the csv module, not from the code under test."""
from __future__ import annotations

import csv
import gzip
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from insight.cli import main
from insight.cli.engines import close_engines
from insight.errors import BadRequest, LoadError
from insight.sources.postcodes import compact, lookup_key, lookup_keys, postcode_kind, read_postcodes
from insight.store.postcodes import find_postcodes, postcode_points, postcode_total

NSPL = Path(__file__).resolve().parents[2] / "shared" / "data" / "postcodes" / "NSPL_NOV_2021_UK_WC.csv"
pytestmark = pytest.mark.skipif(not NSPL.is_file(), reason="the shared NSPL extract is beside the repository")


def _rows() -> list[dict[str, str]]:
    with NSPL.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _import(store, capsys, path: Path, *extra: str) -> tuple[int, str, str]:
    try:
        code = main(["--database-url", store.settings.resolved_database_url, "import", str(path),
                     "--layer", "postcodes", *extra])
    finally:
        close_engines()
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_nspl_extract_reads_as_sources_md_describes_it() -> None:
    checked = read_postcodes(NSPL, "nspl")
    frame = checked.frame
    assert len(frame) == 7455 and checked.live == 2609
    assert int((frame["lon"].isna()).sum()) == 13
    assert frame["authority"].value_counts()["E09000007"] == 4440
    assert any("terminated" in n for n in checked.notes) and any("no grid reference" in n for n in checked.notes)


def test_import_stores_every_postcode_and_search_finds_postcode_sector_and_district(store, capsys) -> None:
    code, out, err = _import(store, capsys, NSPL, "--format", "nspl")
    assert code == 0, err
    assert "7,455 stored (2,609 live, 7,442 with a location)" in out
    assert postcode_total(store.engine) == 7455
    rows = _rows()
    first = rows[0]
    found = find_postcodes(store.engine, *lookup_key(" wc1a1aa "))
    assert found is not None and found.query == first["pcds"] == "WC1A 1AA"
    assert found.terminated == "1998-06" and found.live == 0
    assert found.lat == pytest.approx(float(first["lat"])) and found.lon == pytest.approx(float(first["long"]))
    assert found.ward == first["ward"] and found.lsoa == first["lsoa11"]
    sector = [r for r in rows if r["pcds"].startswith("WC1A 1")]
    match = find_postcodes(store.engine, *lookup_key("WC1A 1"))
    assert match is not None and match.kind == "sector" and match.postcodes == len(sector)
    assert match.live == sum(1 for r in sector if not r["doterm"])
    located = [r for r in sector if r["osgrdind"] != "9"]
    assert match.lat == pytest.approx(sum(float(r["lat"]) for r in located) / len(located))
    district = [r for r in rows if r["pcds"].split(" ")[0] == "WC2N"]
    match = find_postcodes(store.engine, *lookup_key("wc2n"))
    assert match is not None and match.kind == "district" and match.postcodes == len(district)
    assert find_postcodes(store.engine, *lookup_key("NW9 5AB")) is None


def test_postcode_points_places_live_and_terminated_postcodes_but_not_unlocated_ones(store, capsys) -> None:
    assert _import(store, capsys, NSPL)[0] == 0
    rows = _rows()
    unlocated = next(r for r in rows if r["osgrdind"] == "9")
    live = next(r for r in rows if not r["doterm"] and r["osgrdind"] != "9")
    points = postcode_points(store.engine, [compact(unlocated["pcds"]), compact(live["pcds"]), "WC1A1AA"])
    assert set(points) == {compact(live["pcds"]), "WC1A1AA"}
    assert points[compact(live["pcds"])] == pytest.approx((float(live["long"]), float(live["lat"])))


def test_a_bad_row_names_row_and_column_and_keeps_the_stored_postcodes(store, capsys, tmp_path: Path) -> None:
    assert _import(store, capsys, NSPL)[0] == 0
    with NSPL.open(newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))[:21]
    header = table[0]
    table[5][header.index("pcds")] = "NOT A PC"
    table[9][header.index("lat")] = "north"
    bad = tmp_path / "bad.csv.gz"
    with gzip.open(bad, "wt", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(table)
    with pytest.raises(LoadError) as caught:
        read_postcodes(bad, "nspl")
    text = str(caught.value)
    assert "row 5" in text and "pcds" in text and "is not a UK postcode" in text
    assert "row 9" in text and "not a number" in text
    code, _, err = _import(store, capsys, bad)
    assert code != 0 and "row 5" in err
    assert postcode_total(store.engine) == 7455


def test_code_point_open_is_placed_from_british_national_grid(tmp_path: Path) -> None:
    rows = [r for r in _rows() if r["osgrdind"] == "1" and not r["doterm"]][:50]
    path = tmp_path / "wc.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        for r in rows:
            writer.writerow([r["pcd"], "10", r["oseast1m"], r["osnrth1m"], "E92000001", "", "", "", r["laua"],
                             r["ward"]])
    checked = read_postcodes(path, "codepoint")
    assert len(checked.frame) == 50 and checked.frame["terminated"].isna().all()
    for r, (_, got) in zip(rows, checked.frame.iterrows(), strict=True):
        assert got["display"] == r["pcds"]
        # within about 7 m: pyproj's transformation without the OSTN15 grid file, and 1 m grid references
        assert got["lat"] == pytest.approx(float(r["lat"]), abs=6e-5)
        assert got["lon"] == pytest.approx(float(r["long"]), abs=1e-4)


def test_unknown_format_and_non_postcode_searches_are_plain_400s(tmp_path: Path) -> None:
    copy = tmp_path / "x.csv"
    shutil.copy(NSPL, copy)
    with pytest.raises(BadRequest, match="choose from nspl, onspd, codepoint"):
        read_postcodes(copy, "paf")
    for text in ("library", "12345", "", "NW9 5A"):
        with pytest.raises(BadRequest, match="is not a postcode, sector or district"):
            lookup_key(text)


_AREA = st.from_regex(r"[A-PR-UWYZ][A-HK-Y]?", fullmatch=True)
_DISTRICT = st.tuples(_AREA, st.integers(1, 9), st.sampled_from(["", "A", "W", "1"])).map(
    lambda t: f"{t[0]}{t[1]}{t[2]}")
_UNIT = st.tuples(st.integers(0, 9), st.from_regex(r"[ABD-HJLNP-UW-Z]{2}", fullmatch=True))


@given(district=_DISTRICT, unit=_UNIT, spaces=st.sampled_from(["", " ", "  "]), lower=st.booleans())
def test_any_well_formed_postcode_sector_and_district_is_recognised_however_written(
        district: str, unit: tuple[int, str], spaces: str, lower: bool) -> None:
    full = f"{district}{spaces}{unit[0]}{unit[1]}"
    sector = f"{district}{spaces}{unit[0]}"
    case = str.lower if lower else str.upper
    assert lookup_key(case(full)) == ("postcode", f"{district}{unit[0]}{unit[1]}")
    assert ("sector", f"{district} {unit[0]}") in lookup_keys(case(sector))
    if spaces:
        assert lookup_key(case(sector)) == ("sector", f"{district} {unit[0]}")
    assert postcode_kind(case(district)) == "district"


def test_search_finds_a_postcode_from_the_extract_with_its_place_and_status(store, capsys) -> None:
    from insight.analysis.places import load_places
    from insight.analysis.views import search
    from insight.web import create_app
    from insight.web.context import context_of

    assert _import(store, capsys, NSPL)[0] == 0
    live = next(r for r in _rows() if not r["doterm"] and r["osgrdind"] == "1")
    places = load_places(store.engine)
    hit = search(places, live["pcds"].lower())[0]
    assert hit["type"] == "postcode" and hit["name"] == live["pcds"] and hit["note"] is None
    assert (hit["lon"], hit["lat"]) == pytest.approx((float(live["long"]), float(live["lat"])))
    old = search(places, "WC1A 1AA")[0]
    assert old["note"] == "no longer in use since 1998-06; shown where it was"
    assert search(places, "library") == []
    app = create_app(store.settings)
    try:
        client = app.server.test_client()
        body = client.get("/api/search.json", query_string={"q": "wc2n"}).get_json()
        district = [r for r in _rows() if r["pcds"].split(" ")[0] == "WC2N"]
        first = body["results"][0]
        assert first["type"] == "postcode" and first["kind"] == "district"
        assert first["note"].startswith(f"{len(district):,} postcodes, ")
        west, south, east, north = first["bbox"]
        located = [r for r in district if r["osgrdind"] != "9"]
        assert west == pytest.approx(min(float(r["long"]) for r in located))
        assert north == pytest.approx(max(float(r["lat"]) for r in located))
    finally:
        context_of(app.server).close()


LIBRARIES = NSPL.parents[1] / "libraries_librarieshacked" / "libraries_london_2023.csv"


def _import_libraries(store, capsys) -> tuple[int, str, str]:
    try:
        code = main(["--database-url", store.settings.resolved_database_url, "import", str(LIBRARIES),
                     "--layer", "libraries", "--kind", "points", "--format", "points-postcode", "--theme", "assets",
                     "--asset-kind", "spaces", "--option", "name_field=name", "--option", "category_field=type"])
    finally:
        close_engines()
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_list_of_libraries_with_postcodes_only_is_placed_where_the_postcode_file_can_and_search_finds_them(
        store, capsys) -> None:
    from insight.analysis.places import load_places
    from insight.analysis.views import search

    with LIBRARIES.open(newline="", encoding="utf-8") as f:
        libraries = list(csv.DictReader(f))
    code, out, err = _import_libraries(store, capsys)
    assert code == 0, err
    assert f"none of the {len(libraries)} rows could be placed" in out
    assert _import(store, capsys, NSPL)[0] == 0
    live = {compact(r["pcds"]): r for r in _rows() if r["osgrdind"] != "9"}
    expected = {r["name"]: live[compact(r["postcode"])] for r in libraries if compact(r["postcode"]) in live}
    assert len(expected) >= 1
    code, out, err = _import_libraries(store, capsys)
    assert code == 0, err
    assert f"{len(expected)} of {len(libraries)} rows placed at the centre of their postcode" in out
    assert f"{len(libraries) - len(expected)} row(s) not placed" in out
    hits = {h["name"]: h for h in search(load_places(store.engine), "library") if h["type"] == "feature"}
    assert set(hits) == set(expected)
    for name, row in expected.items():
        assert (hits[name]["lon"], hits[name]["lat"]) == pytest.approx((float(row["long"]), float(row["lat"])))
