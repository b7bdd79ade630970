"""Web benchmark: server time of the main endpoints and callbacks, and page-ready time in Chromium.

Loads the whole sample (all crime records) into a temporary SpatiaLite file, warms the
snapshot as `insight serve` does, then:

- each endpoint through Flask's test client, and each callback called directly, N times
  (median and 95th percentile, milliseconds);
- the explore page in headless Chromium from `goto` until the 24 ward shapes are drawn;
- an area page from `goto` until its charts are drawn (the first ever, then nine other wards).

    .venv/bin/python bench/bench_web.py [--repeats 50]
"""
from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def _stats(times: list[float]) -> tuple[float, float]:
    return float(np.median(times)) * 1000, float(np.percentile(times, 95)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()

    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from insight.config import load_settings
    from insight.layers import load_specs
    from insight.sources.ingest import load_specs_into
    from insight.store import make_engine
    from insight.store.migrate import upgrade
    from insight.web import create_app
    from insight.web.context import context_of
    from insight.web.explore import refresh

    tmp = tempfile.TemporaryDirectory()
    settings = load_settings(database_url=f"sqlite:///{Path(tmp.name) / 'bench.sqlite'}", tile_url="")
    engine = make_engine(settings)
    upgrade(engine)
    load_specs_into(engine, load_specs(settings.layers_dir), Path(settings.data_dir), echo=lambda _: None)
    app = create_app(settings)
    start = time.perf_counter()
    context_of(app.server).places()
    print(f"snapshot warmed in {time.perf_counter() - start:.2f} s (once, at start-up)\n")

    client = app.server.test_client()
    year = "2017-07:2018-06"
    endpoints = {
        "GET /api/layers/wards_2022.geojson": "/api/layers/wards_2022.geojson",
        "GET /api/points (a year of crime, 33k)": f"/api/points/crime_2016_2018.geojson?period={year}",
        "GET /api/points (one ward, a year)":
            f"/api/points/crime_2016_2018.geojson?period={year}&boundary=wards_2022&area=E05013630",
        "GET /api/shading (crime rate)": f"/api/shading/wards_2022.json?metric=points_rate&period={year}",
        "GET /api/profile (one ward)": f"/api/profile/wards_2022/E05013630.json?period={year}",
        "GET /api/search": "/api/search.json?q=oak",
        "GET /api/table (24 wards)": f"/api/table/wards_2022.csv?layer=crime_2016_2018&period={year}",
    }
    print(f"{'endpoint or callback':<46} {'median ms':>10} {'p95 ms':>8}")
    for label, url in endpoints.items():
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - t)
            assert response.status_code == 200, (url, response.status_code)
        median, p95 = _stats(times)
        print(f"{label:<46} {median:>10.1f} {p95:>8.1f}")
    calls = {
        "callback refresh (ward focus, crime overlay)": lambda: refresh(
            {"boundary": "wards_2022", "metric": "points_rate", "layers": ["crime_2016_2018", "schools"],
             "area": "E05013630", "from": "2017-07", "to": "2018-06"}, None),
        "callback refresh (LSOAs, deprivation, no focus)": lambda: refresh(
            {"boundary": "lsoa_2021", "metric": "imd_rank", "from": "2017-07", "to": "2018-06"}, None),
        "callback refresh (drawn area, crime overlay)": lambda: refresh(
            {"boundary": "wards_2022", "metric": "points_rate", "layers": ["crime_2016_2018"],
             "from": "2017-07", "to": "2018-06"}, "-0.21 51.60,-0.19 51.60,-0.19 51.61,-0.21 51.61,-0.21 51.60"),
    }
    with app.server.test_request_context():
        for label, fn in calls.items():
            times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            median, p95 = _stats(times)
            print(f"{label:<46} {median:>10.1f} {p95:>8.1f}")

    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/"
    from playwright.sync_api import sync_playwright

    ready = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"])
        for _ in range(10):
            page = browser.new_page()
            t = time.perf_counter()
            page.goto(url)
            page.wait_for_function(
                "document.querySelectorAll('.leaflet-overlay-pane path.leaflet-interactive').length === 24")
            ready.append(time.perf_counter() - t)
            page.close()
        charts = []
        wards = context_of(app.server).places().boundary("wards_2022").areas["code"].tolist()
        for code in wards[:10]:  # a different ward each time: its figures are not yet kept
            page = browser.new_page()
            t = time.perf_counter()
            page.goto(f"{url}area/wards_2022/{code}")
            page.wait_for_selector("#category-chart .main-svg")
            page.wait_for_selector("#trend-chart .main-svg")
            charts.append(time.perf_counter() - t)
            page.close()
        browser.close()
    server.shutdown()
    median, p95 = _stats(ready)
    print(f"\n{'explore page ready in Chromium (24 wards drawn)':<46} {median:>10.1f} {p95:>8.1f}")
    median, p95 = _stats(charts[1:])
    print(f"{'area page charts drawn (first ever)':<46} {charts[0] * 1000:>10.1f}")
    print(f"{'area page charts drawn (9 other wards)':<46} {median:>10.1f} {p95:>8.1f}")


if __name__ == "__main__":
    main()
