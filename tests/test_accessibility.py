"""Automated accessibility checks: an axe-core scan of each page in headless Chromium (no serious or
critical violations), plus keyboard operation and a visible focus indicator on the area page.

axe-core comes bundled in the PyPI package axe-playwright-python (MPL-2.0). Every violation found,
of any impact, is printed with its rule id and targets so it can be fixed.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.web_support import SURVEY_LAYERS, close_app, loaded_app, serve

WARD = "E05013630"
BLOCKING = ("serious", "critical")
PAGES = [
    pytest.param("/", ".leaflet-overlay-pane path", id="explore"),
    pytest.param("/?layers=schools,crime_2024_04&area=E05013630&from=2024-04&to=2024-04",
                 "#panel h2", id="explore-with-points"),
    pytest.param(f"/area/wards_2022/{WARD}", "#category-chart .main-svg", id="area"),
    pytest.param(f"/area/wards_2022/{WARD}?comparator=average&layer=crime_2024_04", "#category-chart .main-svg",
                 id="area-average"),
    pytest.param("/area/wards_2022/NOPE", "[role=alert]", id="area-unknown"),
    pytest.param(f"/area/wards_2022/{WARD}", "#perception-chart-0 .main-svg", id="area-perception"),
    pytest.param("/?metric=perception:resident_survey_illustrative:safe_after_dark", "#legend li",
                 id="explore-perception"),
    pytest.param(f"/compare?boundary=wards_2022&areas={WARD},E05013643", "#comparison", id="compare"),
    pytest.param("/compare", "#compare-apply", id="compare-empty"),
    pytest.param("/catalogue", "#catalogue", id="catalogue"),
]
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = loaded_app(tmp_path_factory.mktemp("a11y"), SURVEY_LAYERS)
    yield from serve(app)
    close_app(app)


def axe_violations(page) -> list[dict]:
    """Run axe-core on the page as it is now; every violation found."""
    from axe_playwright_python.sync_playwright import Axe

    return Axe().run(page).response["violations"]


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        targets = [" ".join(map(str, n["target"])) for n in v["nodes"]]
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} — {len(targets)} node(s): {targets[:5]}")
    return "\n".join(lines) or "no violations"


@pytest.mark.parametrize(("path", "ready"), PAGES)
def test_axe_finds_no_serious_or_critical_violations(page, app_url: str, path: str, ready: str) -> None:
    page.goto(app_url + path)
    page.wait_for_selector(ready, timeout=20000)
    page.wait_for_load_state("networkidle")
    violations = axe_violations(page)
    print(f"\naxe on {path}:\n{describe(violations)}")
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, describe(blocking)


def test_area_page_after_a_change_passes_axe(page, app_url: str) -> None:
    page.goto(f"{app_url}/area/wards_2022/{WARD}")
    page.wait_for_selector("#category-chart .main-svg")
    page.get_by_label("Compare with").select_option("average")
    page.get_by_role("button", name="Show figures").click()
    page.wait_for_function("window.location.search.includes('comparator=average')")
    page.wait_for_selector("#area-status:has-text('average of the')")
    violations = axe_violations(page)
    print(f"\naxe on the area page after a change:\n{describe(violations)}")
    assert not [v for v in violations if v["impact"] in BLOCKING], describe(violations)


def _tab_to(page, element_id: str, limit: int = 60) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} cannot be reached with the Tab key")


def test_area_controls_work_with_the_keyboard_and_show_focus(page, app_url: str) -> None:
    page.goto(f"{app_url}/area/wards_2022/{WARD}")
    page.wait_for_selector("#area-profile #key-figures")
    _tab_to(page, "area-comparator")
    page.keyboard.press("ArrowDown")
    assert page.locator("#area-comparator").input_value() == "average"
    _tab_to(page, "area-apply")
    style = page.evaluate("(() => { const s = getComputedStyle(document.activeElement);"
                          " return [s.backgroundColor, s.boxShadow]; })()")
    assert style[0] == "rgb(255, 221, 0)" and style[1] != "none", style
    page.keyboard.press("Enter")
    page.wait_for_function("window.location.search.includes('comparator=average')")
    page.wait_for_selector("#area-status:has-text('average of the')")


def test_links_show_focus(page, app_url: str) -> None:
    page.goto(f"{app_url}/area/wards_2022/{WARD}")
    page.wait_for_selector("#area-profile #key-figures")
    link = page.get_by_role("link", name="Show on the map")
    link.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("(() => { const s = getComputedStyle(document.activeElement);"
                            " return [s.outlineStyle, s.outlineWidth, s.backgroundColor]; })()")
    assert outline[0] == "solid" and outline[1] == "3px" and outline[2] == "rgb(255, 221, 0)", outline
