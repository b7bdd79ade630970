"""The Open Referral UK API at /oruk/: every endpoint validated against the UK profile's published schemas,
anonymous with CORS, paging arithmetic, filters, 400/404 answers, and never a 5xx for random parameters.

Expected values come from the shipped data files read with the csv/json modules, from the real NSPL
extract, and from pyproj's geodesic distances — not from the code under test."""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from pyproj import Geod
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.conftest import DATA_DIR
from tests.partner_fixtures import VENUES_CSV, make_world, write
from tests.partner_fixtures import settings as partner_settings
from tests.web_support import close_app, loaded_app

STANDARD = Path(__file__).resolve().parents[2] / "shared" / "standards" / "openreferral-uk" / "schema"
NSPL = Path(__file__).resolve().parents[2] / "shared" / "data" / "postcodes" / "NSPL_NOV_2021_UK_WC.csv"
LAYERS = {"borough", "wards_2022", "vcfs_organisations", "hospitals", "schools"}
PAGE_FIELDS = ("total_items", "total_pages", "page_number", "size", "first_page", "last_page", "empty", "contents")
PRIVATE = ("Jo Bloggs-Private", "do not publish: key safe 4321")
GEOD = Geod(ellps="WGS84")
pytestmark = pytest.mark.skipif(not (STANDARD.is_dir() and NSPL.is_file()),
                                reason="the shared Open Referral UK schemas and NSPL extract are beside the repository")


def nspl_point(postcode: str) -> tuple[float, float]:
    """(lon, lat) of a postcode read straight from the NSPL extract."""
    with NSPL.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["pcds"] == postcode:
                return float(row["long"]), float(row["lat"])
    raise AssertionError(postcode)


def partner_csv(tmp: Path) -> Path:
    """Three real venues with the contact columns a partner's file may carry, and two columns never to publish."""
    rows = VENUES_CSV.read_text(encoding="utf-8").splitlines()[:4]
    rows[0] += ",phone,website,address,postcode,opening_times,accessibility,contact_name,internal_notes"
    rows[1] += (",020 8359 2000,https://example.org/bull,68 High Street,EN5 5SJ,Mon-Fri 9am-5pm,"
                f"Step-free entrance,{PRIVATE[0]},{PRIVATE[1]}")
    rows[2] += ",,,,,,,,"
    rows[3] += ",,,,,,,,"
    return write(tmp / "partner.csv", "\n".join(rows) + "\n")


def build_app(tmp: Path):
    """The sample's directory layers, a partner layer with contacts, and the real NSPL extract, in one app."""
    from insight.partner import uploads
    from insight.sources.postcodes import import_postcodes

    app = loaded_app(tmp, LAYERS)
    engine = app.store.engine
    world = make_world(engine, boundaries=())
    check = uploads.check_upload(engine, partner_csv(tmp), layer=world.layer, actor=world.users["partner"],
                                 settings=partner_settings())
    assert not check.result.errors, check.result.errors
    uploads.commit_check(engine, check, actor=world.users["partner"])
    import_postcodes(engine, NSPL)
    return app


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    app = build_app(tmp_path_factory.mktemp("oruk"))
    yield app.server.test_client()
    close_app(app)


def _schema(name: str) -> dict:
    return json.loads((STANDARD / name).read_text(encoding="utf-8"))


def _validator(name: str) -> Draft202012Validator:
    term = Resource.from_contents(_schema("taxonomy_term.json"), default_specification=DRAFT202012)
    registry = Registry().with_resource("taxonomy_term.json", term)
    return Draft202012Validator(_schema(name), registry=registry, format_checker=FormatChecker())


def _errors(name: str, document: object) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(name).iter_errors(document)]


def _get(client, url: str):
    response = client.get(url)
    assert response.headers.get("Access-Control-Allow-Origin") == "*", url
    assert response.mimetype == "application/json", url
    return response


def _page(client, url: str, item_schema: str) -> dict:
    response = _get(client, url)
    assert response.status_code == 200, response.get_json()
    document = response.get_json()
    assert set(PAGE_FIELDS) <= set(document), url
    page_schema = _schema("openapi.json")["components"]["schemas"]["Page"]
    assert not list(Draft202012Validator(page_schema).iter_errors(document))
    for item in document["contents"]:
        assert _errors(item_schema, item) == [], (url, item)
    return document


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / "points" / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _features(name: str) -> list[dict]:
    return json.loads((DATA_DIR / "points" / name).read_text(encoding="utf-8"))["features"]


def expected_total() -> int:
    return (len(_rows("vcfs_organisations_illustrative.csv")) + len(_features("hospitals.geojson"))
            + len(_features("schools.geojson")) + 3)


def all_services(client, path: str = "/oruk/services", per_page: int = 500, **params: str) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    out, page = [], 1
    while True:
        document = _get(client, f"{path}?per_page={per_page}&page={page}&{query}").get_json()
        out += document["contents"]
        if document["last_page"] or document["empty"]:
            return out
        page += 1


def test_root_describes_the_api(client) -> None:
    document = _get(client, "/oruk/").get_json()
    schema = _schema("openapi.json")["paths"]["/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert not list(Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(document))
    assert document["version"] == "3.0"
    assert any(layer["illustrative"] and layer["name"] == "vcfs_organisations" for layer in document["layers"])


def test_every_endpoint_validates_against_the_profile(client) -> None:
    services = _page(client, "/oruk/services?per_page=500", "compiled/service_list.json")
    assert services["total_items"] == expected_total()
    for item in services["contents"][:40] + services["contents"][-5:]:
        full = _get(client, f"/oruk/services/{item['id']}").get_json()
        assert _errors("compiled/service.json", full) == []
        for phone in full.get("phones", []):
            assert _errors("phone.json", phone) == []
    links = _page(client, "/oruk/service_at_locations?per_page=20", "compiled/service_at_location_list.json")
    assert links["total_items"] == expected_total()
    for link in links["contents"][:10]:
        full = _get(client, f"/oruk/service_at_locations/{link['id']}").get_json()
        assert _errors("compiled/service_at_location.json", full) == []
        assert full["service"]["id"] == link["service_id"]
    taxonomies = _page(client, "/oruk/taxonomies", "taxonomy.json")
    for taxonomy in taxonomies["contents"]:
        full = _get(client, f"/oruk/taxonomies/{taxonomy['id']}").get_json()
        assert _errors("taxonomy.json", full) == [] and full["taxonomy_terms"]
    terms = _page(client, "/oruk/taxonomy_terms?per_page=500", "taxonomy_term.json")
    for term in terms["contents"][:20]:
        assert _errors("taxonomy_term.json", _get(client, f"/oruk/taxonomy_terms/{term['id']}").get_json()) == []
    categories = {r["category"] for r in _rows("vcfs_organisations_illustrative.csv")}
    assert categories <= {t["name"] for t in terms["contents"]}


def test_paging_arithmetic(client) -> None:
    total = expected_total()
    for per_page in (1, 7, 50, 500):
        first = _get(client, f"/oruk/services?per_page={per_page}").get_json()
        assert first["total_pages"] == math.ceil(total / per_page)
        assert first["first_page"] and first["page_number"] == 1 and first["size"] == min(per_page, total)
    ids = [s["id"] for s in all_services(client, per_page=37)]
    assert len(ids) == len(set(ids)) == total
    last = _get(client, f"/oruk/services?per_page=37&page={math.ceil(total / 37)}").get_json()
    assert last["last_page"] and last["size"] == total - 37 * (math.ceil(total / 37) - 1)
    beyond = _get(client, "/oruk/services?per_page=37&page=999").get_json()
    assert beyond["empty"] and beyond["contents"] == [] and beyond["size"] == 0 and not beyond["first_page"]


def test_search_for_food_finds_the_food_banks(client) -> None:
    rows = _rows("vcfs_organisations_illustrative.csv")
    banks = {r["name"] for r in rows if "food bank" in r["name"].lower()}
    assert len(banks) >= 10
    wanted = {r["name"] for r in rows if "food" in (r["name"] + r["category"]).lower()}
    found = all_services(client, search="food")
    assert {s["name"] for s in found} == wanted
    assert all("ILLUSTRATIVE" in s["description"] for s in found)


def test_term_and_taxonomy_filters(client) -> None:
    rows = _rows("vcfs_organisations_illustrative.csv")
    terms = _get(client, "/oruk/taxonomy_terms?per_page=500").get_json()["contents"]
    food = next(t for t in terms if t["name"] == "Food support")
    found = all_services(client, taxonomy_term_id=food["id"])
    assert {s["name"] for s in found} == {r["name"] for r in rows if r["category"] == "Food support"}
    in_taxonomy = all_services(client, taxonomy_id=food["taxonomy_id"])
    assert {s["name"] for s in in_taxonomy} == {r["name"] for r in rows}
    nothing = _get(client, "/oruk/services?taxonomy_term_id=no-such-term").get_json()
    assert nothing["empty"] and nothing["total_items"] == 0 and nothing["total_pages"] == 0


def test_postcode_with_proximity_matches_geodesic_distances(client) -> None:
    lon, lat = nspl_point("WC1A 1AB")
    everything = all_services(client, "/oruk/service_at_locations")
    distance = {s["id"]: GEOD.inv(lon, lat, s["location"]["longitude"], s["location"]["latitude"])[2]
                for s in everything}
    ordered = all_services(client, "/oruk/service_at_locations", postcode="WC1A%201AB")
    metres = [distance[s["id"]] for s in ordered]
    assert len(ordered) == len(everything)
    assert all(b >= a - 0.005 * a for a, b in zip(metres, metres[1:], strict=False))
    radius = 12_000
    near = {s["id"] for s in all_services(client, "/oruk/service_at_locations", postcode="wc1a1ab",
                                          proximity=str(radius))}
    clear = {k for k, d in distance.items() if abs(d - radius) > 0.005 * radius}
    assert near & clear == {k for k in clear if distance[k] <= radius}
    assert 0 < len(near) < len(everything)


def test_phones_urls_and_addresses_appear_when_the_partner_has_them(client) -> None:
    found = all_services(client, search="bull theatre")
    assert [s["name"] for s in found] == ["The Bull Theatre"]
    full = _get(client, f"/oruk/services/{found[0]['id']}").get_json()
    assert full["url"] == "https://example.org/bull"
    assert [p["number"] for p in full["phones"]] == ["020 8359 2000"]
    assert full["schedules"][0]["description"] == "Mon-Fri 9am-5pm"
    location = full["service_at_locations"][0]["location"]
    assert location["addresses"][0]["address_1"] == "68 High Street"
    assert location["addresses"][0]["postal_code"] == "EN5 5SJ"
    assert location["accessibility"][0]["description"] == "Step-free entrance"
    hospitals = {f["properties"]["hospital_name"]: f["properties"]["postcode"] for f in _features("hospitals.geojson")}
    name, postcode = next(iter(hospitals.items()))
    hospital = all_services(client, search=name.replace(" ", "%20"))
    full = _get(client, f"/oruk/services/{hospital[0]['id']}").get_json()
    assert full["service_at_locations"][0]["location"]["addresses"][0]["postal_code"] == postcode


def test_nothing_private_is_published(client) -> None:
    texts = [client.get(f"/oruk/services/{s['id']}").get_data(as_text=True) for s in all_services(client)]
    texts += [client.get("/oruk/service_at_locations?per_page=500").get_data(as_text=True)]
    assert not any(secret in text for secret in PRIVATE for text in texts)


@pytest.mark.parametrize("url", [
    "/oruk/services?page=0", "/oruk/services?page=abc", "/oruk/services?per_page=501", "/oruk/services?per_page=0",
    "/oruk/service_at_locations?postcode=WC1A%201AB&proximity=-5",
    "/oruk/service_at_locations?postcode=WC1A%201AB&proximity=far", "/oruk/service_at_locations?proximity=100",
    "/oruk/services?postcode=not-a-postcode", "/oruk/services?postcode=SW1A%201AA", "/oruk/taxonomies?page=-1",
    "/oruk/taxonomy_terms?per_page=1e3", f"/oruk/services?search={'x' * 300}",
])
def test_bad_parameters_answer_400_in_plain_words(client, url: str) -> None:
    response = _get(client, url)
    assert response.status_code == 400
    assert len(response.get_json()["error"]) > 10


@pytest.mark.parametrize("url", [
    "/oruk/services/00000000-0000-0000-0000-000000000000", "/oruk/service_at_locations/nope", "/oruk/taxonomies/x",
    "/oruk/taxonomy_terms/x", "/oruk/collections", "/oruk/services/a/b",
])
def test_unknown_ids_and_paths_answer_json_404(client, url: str) -> None:
    response = _get(client, url)
    assert response.status_code == 404 and "error" in response.get_json()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page=st.one_of(st.integers(-5, 10**7).map(str), st.text(max_size=12)),
       per_page=st.one_of(st.integers(-5, 1000).map(str), st.text(max_size=12)),
       search=st.text(max_size=40), path=st.sampled_from(["/oruk/services", "/oruk/service_at_locations",
                                                          "/oruk/taxonomies", "/oruk/taxonomy_terms"]))
def test_random_parameters_never_fail_on_the_server(client, page: str, per_page: str, search: str, path: str) -> None:
    response = client.get(path, query_string={"page": page, "per_page": per_page, "search": search})
    assert response.status_code in (200, 400), response.get_data(as_text=True)[:300]
    assert response.headers.get("Access-Control-Allow-Origin") == "*"
    if response.status_code == 200:
        document = response.get_json()
        assert document["size"] == len(document["contents"]) <= int(per_page.strip() or 50)
