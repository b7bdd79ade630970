"""Trends, forecasts, backtests and warnings from the CLI and the API, on the loaded sample.

Every point layer x boundary layer in the catalogue answers each endpoint and command with a
result or a plain 4xx/exit 2 whose reason follows from the layer's months; a forecast made with
``--until 2022-03`` is scored against the real later months of the Barnet burglary file (assigned
to wards by an independent geopandas spatial join); the files parse and carry their provenance.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from insight.web import create_app
from insight.web.context import context_of
from tests.test_backtest import SCRIPT
from tests.test_combinations import INTERNALS

pytestmark = pytest.mark.parametrize("sample_store", ["spatialite"], indirect=True)

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("trends", "forecast", "backtest", "warnings")
SMALL = {"trends": "", "forecast": "&horizon=2", "backtest": "&horizon=2&step=24", "warnings": ""}
FORECAST_COLUMNS = ["code", "name", "month", "forecast", "lower_80", "upper_80", "lower_95", "upper_95"]
PROVENANCE = ["method", "period", "layer", "boundary", "generated"]
BASELINES = {"pooled-share", "last value", "seasonal naive", "mean of last 12 months"}


@pytest.fixture(scope="module")
def app(sample_store) -> Iterator[Any]:
    app = create_app(sample_store.settings)
    yield app
    context_of(app.server).close()


@pytest.fixture(scope="module")
def client(app) -> Iterator[Any]:
    with app.server.test_client() as c:
        yield c


@pytest.fixture(scope="module")
def layers(client) -> dict[str, list[dict[str, Any]]]:
    found = client.get("/api/layers.json").get_json()["layers"]
    return {kind: [la for la in found if la["kind"] == kind] for kind in ("boundary", "points")}


@pytest.fixture(scope="module")
def area_counts(client, layers) -> dict[str, int]:
    return {b["name"]: len(client.get(f"/api/layers/{b['name']}.geojson").get_json()["features"])
            for b in layers["boundary"]}


@pytest.fixture(scope="module")
def burglary_by_ward() -> pd.DataFrame:
    """Month x ward burglary counts by a geopandas spatial join of the bulk file (not through the store)."""
    return SCRIPT.barnet_matrix("wards_2022")


@pytest.fixture
def cli(sample_store, capsys, monkeypatch):
    """Run ``insight ...`` on the sample store: (exit code, stdout, stderr)."""
    from insight.cli.engines import close_engines
    from insight.cli.main import main

    monkeypatch.setenv("INSIGHT_DATA_DIR", sample_store.settings.data_dir)
    monkeypatch.setenv("INSIGHT_LAYERS_DIR", sample_store.settings.layers_dir)
    url = sample_store.engine.url.render_as_string(hide_password=False)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--database-url", url, *argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    yield run
    close_engines()


def _months(layer: dict[str, Any]) -> int:
    """How many months a layer spans, from the catalogue's first and last month (0 when undated)."""
    if not layer["period_start"]:
        return 0
    first, last = (pd.Period(layer[k], freq="M") for k in ("period_start", "period_end"))
    return (last - first).n + 1


def _expected_ok(kind: str, months: int) -> bool:
    """Whether ``kind`` can be computed from ``months`` months: the minimum history docs/trends.md states."""
    needed = {"trends": 24, "forecast": 2, "backtest": 49, "warnings": 49}
    return months >= needed[kind]


def _plain(message: str) -> bool:
    return bool(message.strip()) and "\n" not in message.strip() and not any(w in message for w in INTERNALS)


def test_every_layer_and_boundary_answers_on_every_endpoint(client, layers, area_counts) -> None:
    wrong = []
    for boundary in layers["boundary"]:
        for layer in layers["points"]:
            months = _months(layer)
            for kind in KINDS:
                url = f"/api/{kind}/{boundary['name']}.json?layer={layer['name']}{SMALL[kind]}"
                response = client.get(url)
                if _expected_ok(kind, months):
                    body = response.get_json()
                    if response.status_code != 200:
                        wrong.append(f"{url}: {response.status_code} {body}")
                        continue
                    areas = area_counts[boundary["name"]] * (2 if kind == "forecast" else 1)
                    if kind != "backtest" and len(body["rows"]) != areas:
                        wrong.append(f"{url}: {len(body['rows'])} rows for {areas} area-months")
                    if {"method", "period", "layer", "boundary", "generated"} - set(body["metadata"]):
                        wrong.append(f"{url}: metadata lacks provenance")
                elif response.status_code != 400 or not _plain(response.get_json()["error"]):
                    wrong.append(f"{url}: {response.status_code} {response.get_data(as_text=True)[:200]}")
                elif months == 0 and "no dated records" not in response.get_json()["error"]:
                    wrong.append(f"{url}: {response.get_json()['error']}")
    assert wrong == []


def test_every_dated_layer_and_boundary_answers_a_command(cli, layers, tmp_path) -> None:
    """Each (dated layer, boundary) pair runs one command, the command rotating so every layer meets each
    command (the API test above runs every combination through the same computation, in one process)."""
    wrong = []
    extra = {"trends": [], "forecast": ["--horizon", "2"], "backtest": ["--horizon", "2", "--step", "24"],
             "warnings": []}
    dated = [la for la in layers["points"] if la["period_start"]]
    assert len(layers["boundary"]) >= len(KINDS) and dated
    for j, layer in enumerate(dated):
        for i, boundary in enumerate(layers["boundary"]):
            kind = KINDS[(i + j) % len(KINDS)]
            out = tmp_path / f"{kind}-{layer['name']}-{boundary['name']}.json"
            code, _, stderr = cli(kind, "--boundary", boundary["name"], "--layer", layer["name"], *extra[kind],
                                  "--format", "json", "-o", str(out))
            if _expected_ok(kind, _months(layer)):
                if code != 0 or json.loads(out.read_text())["metadata"]["layer"] != layer["name"]:
                    wrong.append(f"{kind} {layer['name']} {boundary['name']}: {code} {stderr}")
            elif code != 2 or not stderr.startswith("error: ") or not _plain(stderr) or out.exists():
                wrong.append(f"{kind} {layer['name']} {boundary['name']}: {code} {stderr!r}")
    assert wrong == []


def _ward_codes() -> list[str]:
    features = json.loads((ROOT / "data/boundaries/wards_2022.geojson").read_text())["features"]
    return sorted(f["properties"]["ONSWardCode"] for f in features)


def test_a_forecast_until_2022_03_is_scored_against_the_months_that_followed(cli, tmp_path,
                                                                           burglary_by_ward) -> None:
    out = tmp_path / "forecast.csv"
    code, stdout, stderr = cli("forecast", "--boundary", "wards_2022", "--layer", "burglary_2010_2023",
                               "--until", "2022-03", "--horizon", "12", "--format", "csv", "-o", str(out))
    assert code == 0, stderr
    rows = pd.read_csv(out, dtype={"month": str})
    assert list(rows.columns[:8]) == FORECAST_COLUMNS
    assert set(PROVENANCE) <= set(rows.columns)
    months = [f"2022-{m:02d}" for m in range(4, 13)] + ["2023-01", "2023-02", "2023-03"]
    codes = _ward_codes()
    assert len(codes) == 24 and len(rows) == 12 * 24
    assert sorted(zip(rows["month"], rows["code"])) == sorted((m, c) for m in months for c in codes)
    assert set(rows["period"]) == {"2010-12:2022-03"} and set(rows["method"]) == {"pooled-share"}
    assert set(rows["layer"]) == {"burglary_2010_2023"} and set(rows["boundary"]) == {"wards_2022"}
    datetime.fromisoformat(rows["generated"].iloc[0])

    actual = burglary_by_ward.loc["2022-04":"2023-03"]
    assert actual.to_numpy().sum() > 1500
    outcome = np.array([actual.loc[m, c] for m, c in zip(rows["month"], rows["code"])])
    inside_80 = ((outcome >= rows["lower_80"]) & (outcome <= rows["upper_80"])).mean()
    inside_95 = ((outcome >= rows["lower_95"]) & (outcome <= rows["upper_95"])).mean()
    assert 0.75 <= inside_80 <= 0.92, inside_80
    assert 0.90 <= inside_95 <= 0.99, inside_95
    assert (rows["lower_80"] >= rows["lower_95"]).all() and (rows["upper_80"] <= rows["upper_95"]).all()

    from insight.analysis.trends import forecast

    known = forecast(burglary_by_ward.loc[:"2022-03"], horizon=12)
    merged = rows.merge(known, on=["code", "month"], suffixes=("", "_known"))
    assert len(merged) == len(rows)
    np.testing.assert_allclose(merged["forecast"], merged["forecast_known"], rtol=1e-9)
    np.testing.assert_array_equal(merged["upper_80"], merged["upper_80_known"])


def test_the_files_parse_and_carry_their_method_period_and_source(cli, tmp_path) -> None:
    base = ["--boundary", "wards_2011", "--layer", "burglary_2010_2023"]
    xlsx, js, csv = tmp_path / "trends.xlsx", tmp_path / "backtest.json", tmp_path / "warnings.csv"
    assert cli("trends", *base, "--period", "2015-01:2019-12", "--format", "xlsx", "-o", str(xlsx))[0] == 0
    assert cli("backtest", *base, "--horizon", "3", "--step", "12", "--format", "json", "-o", str(js))[0] == 0
    assert cli("warnings", *base, "--format", "csv", "-o", str(csv))[0] == 0

    book = load_workbook(xlsx, read_only=True)
    assert book.sheetnames == ["Trends", "About"]
    table = list(book["Trends"].iter_rows(values_only=True))
    about = {row[0]: row[1] for row in list(book["About"].iter_rows(values_only=True))[1:]}
    book.close()
    assert set(PROVENANCE) <= set(table[0]) and len(table) == 1 + 21
    assert about["period"] == "2015-01:2019-12" and about["layer"] == "burglary_2010_2023"
    assert "Open Government Licence" in about["source"] and "Poisson" in about["method"]

    body = json.loads(js.read_text())
    assert set(PROVENANCE) <= set(body["metadata"]) and body["metadata"]["horizon"] == 3
    assert {r["method"] for r in body["rows"]} == BASELINES
    assert sorted({r["horizon"] for r in body["rows"]}) == [1, 2, 3]
    assert all(0 <= r["coverage_80"] <= r["coverage_95"] <= 1 for r in body["rows"])

    flags = pd.read_csv(csv)
    assert set(PROVENANCE) <= set(flags.columns) and len(flags) == 21
    assert flags["evidence"].str.contains("expected").all()
    assert set(flags.loc[flags["flag"], "evidence"].str.split(":").str[0]) <= {"rising faster than expected"}


BAD_INPUTS = [
    (["--boundary", "nowhere"], "no boundary layer 'nowhere'"),
    (["--layer", "nothing"], "no point layer 'nothing'"),
    (["--layer", "schools"], "no dated records"),
    (["--category", "robbery"], "no category 'robbery'"),
    (["--until", "2022-13"], "YYYY-MM"),
    (["--until", "2030-01"], "from 2010-12 to 2023-03"),
    (["--horizon", "0"], "from 1 to 36"),
    (["--horizon", "37"], "from 1 to 36"),
    (["--horizon", "twelve"], "from 1 to 36"),
]


@pytest.mark.parametrize(("change", "message"), BAD_INPUTS)
def test_bad_input_gives_one_plain_line_and_exit_2(cli, tmp_path, change, message) -> None:
    args = {"--boundary": "wards_2022", "--layer": "burglary_2010_2023", "--horizon": "2"}
    args.update(dict(zip(change[::2], change[1::2])))
    out = tmp_path / "x.csv"
    code, stdout, stderr = cli("forecast", *[v for pair in args.items() for v in pair], "--format", "csv",
                               "-o", str(out))
    assert code == 2 and message in stderr and _plain(stderr) and not out.exists(), stderr


def test_bad_periods_for_trends(cli, tmp_path) -> None:
    for period, message in (("2019", "YYYY-MM"), ("2020-01:2019-01", "ends before it starts"),
                            ("1990-01:1990-12", "from 2010-12 to 2023-03")):
        code, _, stderr = cli("trends", "--boundary", "wards_2022", "--layer", "burglary_2010_2023",
                              "--period", period, "--format", "csv", "-o", str(tmp_path / "t.csv"))
        assert code == 2 and message in stderr and _plain(stderr), stderr


@pytest.mark.parametrize(("url", "status", "message"), [
    ("/api/forecast/nowhere.json?layer=burglary_2010_2023", 404, "no boundary layer"),
    ("/api/forecast/wards_2022.json?layer=nothing", 404, "no point layer"),
    ("/api/forecast/wards_2022.pdf?layer=burglary_2010_2023", 400, "csv, xlsx, json"),
    ("/api/forecast/wards_2022.json?layer=burglary_2010_2023&horizon=99", 400, "from 1 to 36"),
    ("/api/forecast/wards_2022.json?layer=burglary_2010_2023&horizon=%C2%B2", 400, "from 1 to 36"),
    ("/api/forecast/wards_2022.json?layer=burglary_2010_2023&until=March", 400, "YYYY-MM"),
    ("/api/trends/wards_2022.json?layer=burglary_2010_2023&period=1990-01:1990-12", 400, "2010-12 to 2023-03"),
    ("/api/trends/wards_2022.json?layer=burglary_2010_2023&category=<script>", 400, "not a valid"),
    ("/api/backtest/wards_2022.json?layer=burglary_2010_2023&step=0", 400, "from 1 to 24"),
    ("/api/warnings/wards_2022.json?layer=burglary_2010_2023&window=13", 400, "from 1 to 12"),
])
def test_bad_urls_get_a_plain_4xx(client, url, status, message) -> None:
    response = client.get(url)
    assert response.status_code == status and message in response.get_json()["error"]
    assert _plain(response.get_json()["error"])


def test_the_api_serves_the_rows_the_cli_writes(client, cli, tmp_path) -> None:
    out = tmp_path / "forecast.json"
    params = ["--boundary", "wards_2022", "--layer", "burglary_2010_2023", "--until", "2022-03", "--horizon", "6"]
    assert cli("forecast", *params, "--format", "json", "-o", str(out))[0] == 0
    url = "/api/forecast/wards_2022.json?layer=burglary_2010_2023&until=2022-03&horizon=6"
    served = client.get(url).get_json()
    written = json.loads(out.read_text())
    drop = ("generated",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in served["rows"]] == \
        [{k: v for k, v in r.items() if k not in drop} for r in written["rows"]]
    for fmt, start in (("csv", b"code,name,month,forecast,"), ("xlsx", b"PK")):
        response = client.get(url.replace(".json", f".{fmt}"))
        assert response.status_code == 200 and response.data.startswith(start)
        assert "attachment" in response.headers["Content-Disposition"]
