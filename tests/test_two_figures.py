"""Two figures at once: tertile classing (properties and a hand-worked case), the JSON twin over every figure,
and the strategy officer's task in Chromium ("which wards have high ASB and few services?")."""
from __future__ import annotations

import io
import tomllib
from collections.abc import Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insight.analysis.bivariate import (
    FILTERS,
    PALETTE,
    apply_filter,
    bivariate,
    break_labels,
    class_code,
    tertile_breaks,
    tertiles,
)
from insight.errors import BadRequest
from tests.conftest import DATA_DIR, LAYERS_DIR
from tests.test_accessibility import BLOCKING, axe_violations, describe
from tests.web_support import AREA_LAYERS, app_places, close_app, loaded_app, serve

LAYERS = AREA_LAYERS | {"crime_2016_2018"}
ASB = "rate:anti-social-behaviour"
SERVICES = "kind_rate:services_people"

values = st.lists(st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([0.0, 1.0, 2.5]),
                            st.just(float("nan"))), min_size=1, max_size=40)


@given(values)
@settings(max_examples=200, deadline=None)
def test_thirds_are_monotone_cover_every_area_with_a_figure_and_keep_ties_together(raw: list[float]) -> None:
    series = pd.Series(raw, index=[f"A{i}" for i in range(len(raw))])
    classes = tertiles(series)
    present = series.notna()
    assert classes[present].notna().all() and classes[~present].isna().all()
    assert set(classes[present].astype(int)) <= {1, 2, 3}
    pairs = [(v, int(c)) for v, c in zip(series[present], classes[present])]
    for v1, c1 in pairs:
        for v2, c2 in pairs:
            if v1 < v2:
                assert c1 <= c2
            if v1 == v2:
                assert c1 == c2
    if present.sum() >= 3 and series[present].nunique() == present.sum():
        assert (classes == 1).sum() >= 1 and (classes == 3).sum() >= 1


def test_hand_worked_nine_areas() -> None:
    # x: 1..9 -> breaks at the 1/3 and 2/3 linear quantiles: 1 + 8/3 = 3.667 and 1 + 16/3 = 6.333
    x = pd.Series([1.0, 2, 3, 4, 5, 6, 7, 8, 9], index=list("abcdefghi"))
    assert tertile_breaks(x) == pytest.approx((11 / 3, 19 / 3))
    assert tertiles(x).tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    # ties: five zeros among six values put every zero in the lowest third and the one 4 in the top third
    tied = pd.Series([0.0, 0, 0, 0, 0, 4])
    assert tertile_breaks(tied) == (0.0, 0.0)
    assert tertiles(tied).tolist() == [1, 1, 1, 1, 1, 3]
    y = pd.Series([9.0, 8, 7, 6, 5, 4, 3, 2, 1], index=list("abcdefghi"))
    codes = class_code(tertiles(x), tertiles(y))
    assert codes.tolist() == [7, 7, 7, 5, 5, 5, 3, 3, 3]
    assert PALETTE[codes["a"] - 1] == "#be64ac" and PALETTE[codes["i"] - 1] == "#5ac8c8"
    table = bivariate(pd.DataFrame({"x": x, "y": y}), "x", "y", names=pd.Series(list("ABCDEFGHI"), index=x.index))
    assert apply_filter(table.rows, "high-x-low-y")["name"].tolist() == ["G", "H", "I"]
    assert apply_filter(table.rows, "low-x-high-y")["name"].tolist() == ["A", "B", "C"]
    assert apply_filter(table.rows, "high-x-high-y").empty and len(apply_filter(table.rows, "all")) == 9
    assert break_labels((11 / 3, 19 / 3)) == ("up to 3.67", "above 3.67, up to 6.33", "above 6.33")
    with pytest.raises(BadRequest, match="no filter"):
        apply_filter(table.rows, "middle")
    with pytest.raises(BadRequest, match="no figure 'z'"):
        bivariate(pd.DataFrame({"x": x}), "x", "z")


def test_no_figures_leaves_every_area_unclassed() -> None:
    empty = pd.Series([np.nan, np.nan])
    assert tertile_breaks(empty) is None and tertiles(empty).isna().all()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    app = loaded_app(tmp_path_factory.mktemp("two-figures"), LAYERS)
    yield app
    close_app(app)


@pytest.fixture(scope="module")
def app_url(app) -> Iterator[str]:
    yield from serve(app)


def _check_pair(answer, figures: dict[str, str], key: str, other: str) -> None:
    """A 200 answer: thirds 1 to 3 where there is a figure, none where there is not, and the figures' labels."""
    assert answer.status_code == 200, (key, other, answer.json)
    areas = answer.json["areas"]
    assert areas and {a["x_class"] for a in areas if a["x"] is not None} <= {1, 2, 3}
    assert {a["y_class"] for a in areas if a["y"] is not None} <= {1, 2, 3}
    assert all(a["y_class"] is None for a in areas if a["y"] is None)
    assert (answer.json["x"]["label"], answer.json["y"]["label"]) == (figures[key], figures[other])


def test_api_answers_every_figure_or_a_plain_4xx(app) -> None:
    client = app.server.test_client()
    default = client.get("/api/bivariate/wards_2022.json")
    assert default.status_code == 200
    body = default.json
    assert body["layer"] == "crime_2024_04" and body["period"] == "2024-04:2024-04"
    assert (body["x"]["key"], body["y"]["key"]) == (ASB, "kind_rate:spaces")
    keys = list(body["figures"])
    assert ASB in keys and SERVICES in keys and "residents" in keys and "imd_rank" in keys
    pairs = list(zip(keys, keys[1:] + keys[:1]))  # every figure once as X and once as Y
    for key, other in pairs:
        _check_pair(client.get(f"/api/bivariate/wards_2022.json?x={key}&y={other}"), body["figures"], key, other)
    for boundary in ("lsoa_2021", "town_centres"):
        own = client.get(f"/api/bivariate/{boundary}.json").json["figures"]
        assert len(set(own) & set(keys)) >= 0.9 * len(keys), (boundary, sorted(set(keys) - set(own)))
        ok = 0
        for key, other in pairs:
            answer = client.get(f"/api/bivariate/{boundary}.json?x={key}&y={other}")
            if key in own and other in own:
                _check_pair(answer, own, key, other)
                ok += 1
            else:
                missing = key if key not in own else other
                assert answer.status_code == 400 and f"no figure '{missing}'" in answer.json["error"], answer.json
        assert ok >= 0.8 * len(pairs), (boundary, ok)
    for url, status in (("/api/bivariate/nope.json", 404), ("/api/bivariate/wards_2022.json?x=nope", 400),
                        ("/api/bivariate/wards_2022.json?y=<script>", 400),
                        ("/api/bivariate/wards_2022.json?period=2000-01:2000-06", 400),
                        ("/api/bivariate/wards_2022.json?period=bad", 400),
                        ("/api/bivariate/wards_2022.json?layer=nope", 400)):
        answer = client.get(url)
        assert answer.status_code == status, url
        assert answer.json["error"] and "Traceback" not in answer.json["error"]


def test_bad_links_give_a_message_and_defaults(app) -> None:
    from insight.web.two_figures import layout

    assert app.server.test_client().get("/figures?boundary=nope&x=zzz&from=13-2024").status_code == 200
    with app.server.test_request_context("/figures"):
        shown = str(layout(boundary="nope", x="zzz", y=ASB, layer="crime_2016_2018", **{"from": "13-2024"}))
    assert "There is no boundary layer 'nope'" in shown and "Wards (from May 2022) is shown instead" in shown
    assert "There is no figure 'zzz'" in shown and "is not a month written YYYY-MM" in shown
    assert "figures-table" in shown and "Traceback" not in shown


def test_messages_name_layers_and_choices_in_words_not_codes(app) -> None:
    from insight.web.two_figures_view import parse_view

    titles = {n: tomllib.loads((LAYERS_DIR / f"{n}.toml").read_text())["title"] for n in LAYERS}
    with app.server.test_request_context("/figures"):
        view = parse_view(app_places(app), {"boundary": "nope", "layer": "nope", "filter": "middle",
                                            "sort": "zz", "order": "up"})
    text = " ".join(view.problems)
    assert (view.boundary, view.layer, view.filter, view.sort, view.order) == (
        "wards_2022", "crime_2024_04", "all", "x", "desc")
    assert f"{titles['wards_2022']} is shown instead" in text and titles["lsoa_2021"] in text
    assert f"{titles['crime_2024_04']}; {titles['crime_2016_2018']}); {titles['crime_2024_04']} is shown" in text
    assert "'High X and low Y'" in text and "so 'Every area' is used" in text
    assert "'Area'; 'X'; 'Y'; 'Both', so 'X' is used" in text
    assert "'ascending'; 'descending', so 'descending' is used" in text
    for code in ("wards_2022", "lsoa_2021", "crime_2016_2018", "crime_2024_04", "high-x-low-y", "desc,", "asc,"):
        assert code not in text, code


def _raw_counts_by_ward(codes: pd.Index) -> tuple[pd.Series, pd.Series]:
    """Anti-social behaviour records (April 2024) and services-for-people places per ward, counted straight from
    the sample files with a point-in-polygon join."""
    wards = gpd.read_file(DATA_DIR / "boundaries" / "wards_2022.geojson")[["ONSWardCode", "geometry"]]

    def per_ward(frame: pd.DataFrame) -> pd.Series:
        points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["longitude"], frame["latitude"]),
                                  crs=4326).to_crs(wards.crs)[["geometry"]]
        joined = gpd.sjoin(points, wards, predicate="within")
        return joined.groupby("ONSWardCode").size().reindex(codes, fill_value=0)

    crime = pd.read_csv(DATA_DIR / "points" / "police_api_2024-04.csv")
    vcfs = pd.read_csv(DATA_DIR / "points" / "vcfs_organisations_illustrative.csv")
    schools = gpd.read_file(DATA_DIR / "points" / "schools.geojson")
    schools = pd.DataFrame({"longitude": schools.geometry.x, "latitude": schools.geometry.y})
    services = per_ward(vcfs[vcfs["asset_kind"] == "services_people"]) + per_ward(schools)
    return per_ward(crime[crime["category"] == "anti-social-behaviour"]), services


def _expected_high_asb_low_services(app) -> list[str]:
    """The wards in the top third for ASB per 1,000 and the bottom third for services per 1,000, worked out with
    numpy's quantiles from counts taken from the sample files and the every-area table's residents (its counts
    checked against the files' on the way)."""
    client = app.server.test_client()
    csv = client.get("/api/table/wards_2022.csv?layer=crime_2024_04&period=2024-04:2024-04")
    assert csv.status_code == 200
    table = pd.read_csv(io.BytesIO(csv.data)).set_index("code")
    assert {"name", "residents", "count:anti-social-behaviour", "kind:services_people"} <= set(table.columns)
    asb, services = _raw_counts_by_ward(table.index)
    assert asb.sum() > 0 and services.sum() > 0
    assert table["count:anti-social-behaviour"].tolist() == asb.tolist()
    assert table["kind:services_people"].tolist() == services.tolist()
    residents = table["residents"].to_numpy(float)
    x = asb.to_numpy(float) / residents * 1000
    y = services.to_numpy(float) / residents * 1000
    xq = np.quantile(x[np.isfinite(x)], [1 / 3, 2 / 3])
    yq = np.quantile(y[np.isfinite(y)], [1 / 3, 2 / 3])
    return sorted(table["name"][(x > xq[1]) & (y <= yq[0])].astype(str))


@pytest.mark.browser
def test_high_asb_and_few_services_in_two_clicks(page, app, app_url: str) -> None:
    page.goto(f"{app_url}/figures")
    page.wait_for_selector("#figures-map .leaflet-overlay-pane path", timeout=20000)
    assert page.locator("#figures-table tbody tr").count() == 24
    page.get_by_label("Figure X (across)").select_option(ASB)
    page.get_by_label("Figure Y (up)").select_option(SERVICES)
    page.wait_for_function(f"window.location.search.includes('y={SERVICES.replace(':', '%3A')}')")
    page.get_by_role("button", name="High X and low Y").click()
    page.wait_for_function("window.location.search.includes('filter=high-x-low-y')")
    page.wait_for_selector("#figures-summary:has-text('Showing')")
    listed = sorted(page.locator("#figures-table tbody th").all_inner_texts())
    expected = _expected_high_asb_low_services(app)
    assert listed == expected and listed
    page.get_by_role("button", name="Area", exact=True).click()
    page.wait_for_selector("th[aria-sort=ascending] >> text=Area")
    assert page.locator("#figures-table tbody th").all_inner_texts() == sorted(listed, key=str.casefold)
    assert page.get_by_role("button", name="High X and low Y").get_attribute("aria-pressed") == "true"
    violations = axe_violations(page)
    assert not [v for v in violations if v["impact"] in BLOCKING], describe(violations)
    shared = page.url
    page.goto(shared)
    page.wait_for_selector("#figures-table tbody tr")
    assert sorted(page.locator("#figures-table tbody th").all_inner_texts()) == expected
    assert set(FILTERS) >= {"high-x-low-y"}
