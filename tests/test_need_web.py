"""The need page in Chromium: thresholds change the flagged list, headings sort the table, axe finds nothing serious."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.test_accessibility import BLOCKING, axe_violations, describe
from tests.web_support import SURVEY_LAYERS, close_app, loaded_app, serve

pytestmark = pytest.mark.browser
LAYERS = SURVEY_LAYERS | {"crime_2016_2018"}


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = loaded_app(tmp_path_factory.mktemp("need"), LAYERS)
    yield from serve(app)
    close_app(app)


def _flagged(page) -> list[str]:
    return page.locator("#need-flagged li").all_inner_texts()


def test_threshold_changes_the_flagged_list_and_headings_sort(page, app_url: str) -> None:
    page.goto(f"{app_url}/need")
    page.wait_for_selector("#need-table tbody tr")
    assert page.locator("#need-table tbody tr").count() == 24
    before = _flagged(page)
    page.get_by_label("Need threshold: percentile at or above (0 to 100)").fill("0")
    page.get_by_label("Few assets: places per 1,000 residents at or below").fill("1000")
    page.get_by_role("button", name="Show need").click()
    page.wait_for_function("window.location.search.includes('need=0')")
    page.wait_for_selector("#need-flag-summary:has-text('24 of 24')")
    after = _flagged(page)
    assert len(after) == 24 and len(before) < 24
    page.get_by_role("button", name="Area", exact=True).click()
    page.wait_for_function("window.location.search.includes('sort=name')")
    page.wait_for_selector("th[aria-sort=ascending] >> text=Area")
    names = page.locator("#need-table tbody th").all_inner_texts()
    assert names == sorted(names) and len(names) == 24
    page.get_by_role("button", name="Area", exact=True).press("Enter")
    page.wait_for_selector("th[aria-sort=descending] >> text=Area")
    assert page.locator("#need-table tbody th").all_inner_texts() == sorted(names, reverse=True)
    violations = axe_violations(page)
    assert not [v for v in violations if v["impact"] in BLOCKING], describe(violations)


def test_need_page_passes_axe(page, app_url: str) -> None:
    page.goto(f"{app_url}/need")
    page.wait_for_selector("#need-map .leaflet-overlay-pane path", timeout=20000)
    page.wait_for_load_state("networkidle")
    assert "ILLUSTRATIVE" in page.inner_text("#need-result")
    assert page.locator("#need-ingredients > li").count() >= 4
    violations = axe_violations(page)
    print(f"\naxe on /need:\n{describe(violations)}")
    assert not [v for v in violations if v["impact"] in BLOCKING], describe(violations)
    page.screenshot(path="/tmp/need-dev/need.png", full_page=True)


def test_api_twin_has_the_rows_and_refuses_bad_values(page, app_url: str) -> None:
    good = page.request.get(f"{app_url}/api/need/wards_2022.json?need=0&assets=1000")
    assert good.status == 200
    body = good.json()
    assert len(body["areas"]) == 24 and all(a["flagged"] for a in body["areas"])
    assert page.request.get(f"{app_url}/api/need/nope.json").status == 404
    assert page.request.get(f"{app_url}/api/need/wards_2022.json?method=bad").status == 400
