"""The notebooks run in a real Jupyter kernel (nbclient), against the loaded sample: the library notebook
reads the database, the API notebook reads the app served on loopback over HTTP."""
from __future__ import annotations

import json

import geopandas as gpd
import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell
from shapely.geometry import box

from insight.config import PROJECT_ROOT
from tests.conftest import DATA_DIR

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
# A last cell, added for the test only, printing what the notebook made as one line of JSON.
REPORT = {
    "01_explore_a_place.ipynb": 'print(json.dumps({"wards": len(wards), "profile_rows": len(burnt_oak.figures)}))',
    "02_the_public_api.ipynb": (
        'print(json.dumps({"wards": len(wards), "columns": columns["id"].tolist(),'
        ' "table_columns": list(wards.columns), "profile": ward["name"],'
        ' "collections": collections, "schools": len(schools), "box": box,'
        ' "services": services["total_items"], "by_library": by_library, "by_api": by_api}))'
    ),
}


def test_every_notebook_has_a_report_cell() -> None:
    assert {p.name for p in NOTEBOOKS} == set(REPORT)


def _run(path, env: dict[str, str], monkeypatch) -> dict:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(new_code_cell("import json\n" + REPORT[path.name]))
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(PROJECT_ROOT)}}).execute()
    text = "".join(o.get("text", "") for o in notebook.cells[-1].outputs if o.get("name") == "stdout")
    return json.loads(text.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def api_url(sample_store):
    from insight.web import create_app
    from insight.web.context import context_of
    from tests.web_support import serve

    app = create_app(sample_store.settings)
    try:
        yield from serve(app)
    finally:
        context_of(app.server).close()


def test_library_notebook_runs_in_a_kernel(sample_store, monkeypatch) -> None:
    found = _run(PROJECT_ROOT / "notebooks" / "01_explore_a_place.ipynb",
                 {"INSIGHT_DATABASE_URL": sample_store.settings.resolved_database_url}, monkeypatch)
    assert found["wards"] == 24 and found["profile_rows"] > 20


def test_api_notebook_reads_the_served_api_and_open_data_services(sample_store, api_url, monkeypatch) -> None:
    found = _run(PROJECT_ROOT / "notebooks" / "02_the_public_api.ipynb",
                 {"INSIGHT_API_URL": api_url, "INSIGHT_DATABASE_URL": sample_store.settings.resolved_database_url},
                 monkeypatch)
    wards = gpd.read_file(DATA_DIR / "boundaries" / "wards_2022.geojson")
    assert found["wards"] == len(wards) == 24
    assert found["profile"] == "Burnt Oak" and found["columns"] == found["table_columns"]
    assert {"residents", "points_total"} <= set(found["columns"])
    assert "schools" in found["collections"] and found["services"] > 0
    crime = pd.read_csv(DATA_DIR / "points" / "police_api_barnet_2016-01_2018-06.csv.gz")
    chosen = crime[crime["month"].between("2017-07", "2018-06")]
    joined = gpd.sjoin(gpd.GeoDataFrame(geometry=gpd.points_from_xy(chosen["longitude"], chosen["latitude"]),
                                        crs="EPSG:4326"), wards.to_crs("EPSG:4326"), predicate="within")
    assert found["by_api"] == found["by_library"] == joined["WardName"].value_counts().idxmax()
    schools = gpd.read_file(DATA_DIR / "points" / "schools.geojson").to_crs("EPSG:4326")
    assert found["schools"] == int(schools.geometry.intersects(box(*found["box"])).sum()) > 0
