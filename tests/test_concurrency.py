"""Two writers at once: concurrent commits over HTTP answer 2xx/3xx or 409, never 5xx, and lose no version."""
from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from insight.partner import auth, uploads
from insight.store.models import Layer, LayerVersion, Upload
from insight.web import partner
from insight.web.context import AppContext
from tests.partner_fixtures import PASSWORD, VENUES_CSV, make_world, settings

WRITERS = 6
_CONTEXTS: list[AppContext] = []


@pytest.fixture(autouse=True)
def _close_contexts() -> Iterator[None]:
    yield
    while _CONTEXTS:
        _CONTEXTS.pop().close()


def _app(store) -> Flask:
    app = Flask("concurrency-test")
    context = AppContext(settings(store.settings))
    _CONTEXTS.append(context)
    partner.register(app, context)
    return app


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call in its own thread, released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def _venues(n: int) -> bytes:
    lines = VENUES_CSV.read_text().splitlines()
    rows = [line.replace("The Bull Theatre", f"The Bull Theatre {n}") for line in lines[1:6]]
    return "\n".join([lines[0], *rows, ""]).encode()


def _versions_are_whole(store, layer: str) -> list[int]:
    with store.engine.connect() as conn:
        layer_id = conn.execute(select(Layer.id).where(Layer.name == layer)).scalar_one()
        numbers = list(conn.execute(select(LayerVersion.number).where(LayerVersion.layer_id == layer_id)
                                    .order_by(LayerVersion.number)).scalars())
        committed = list(conn.execute(select(Upload.version_number).where(
            Upload.layer_name == layer, Upload.status == "committed")).scalars())
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    assert len(committed) == len(set(committed)), committed
    assert set(committed) <= set(numbers)
    return numbers


def test_scripts_committing_at_the_same_moment_get_a_version_or_409(store) -> None:
    world = make_world(store.engine)
    app = _app(store)
    token = auth.create_token(world.engine, world.users["partner"], "sync").token
    headers = {"Authorization": f"Bearer {token}"}

    def send(n: int) -> Callable[[], Any]:
        def post() -> Any:
            return app.test_client().post("/partner/api/uploads", headers=headers, content_type="multipart/form-data",
                                          data={"layer": world.layer, "commit": "true",
                                                "file": (io.BytesIO(_venues(n)), f"venues-{n}.csv")})
        return post

    responses = _at_once([send(n) for n in range(WRITERS)])
    assert not [r for r in responses if isinstance(r, BaseException)], responses
    statuses = [r.status_code for r in responses]
    assert all(s in (200, 409) for s in statuses), [(r.status_code, r.text[:300]) for r in responses]
    done = [r.get_json() for r in responses if r.status_code == 200]
    assert done and all(b["committed"] for b in done)
    assert all("changed after" in r.get_json()["problem"] for r in responses if r.status_code == 409)
    numbers = _versions_are_whole(store, world.layer)
    assert sorted(b["version"] for b in done) == numbers


def _signed_in(app: Flask, email: str) -> tuple[Any, str]:
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/partner/sign-in").text).group(1)
    assert client.post("/partner/sign-in", data={"email": email, "password": PASSWORD,
                                                  "csrf_token": token}).status_code in (302, 303)
    page = client.get("/partner/upload").text
    return client, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_people_saving_uploads_at_the_same_moment_see_a_page_not_an_error(store) -> None:
    world = make_world(store.engine)
    app = _app(store)
    partner_user, officer = world.users["partner"], world.users["officer"]
    staged = [uploads.stage_upload(store.engine, _venues(n), filename=f"v{n}.csv", layer=world.layer,
                                   actor=partner_user, settings=settings(store.settings))[0] for n in range(3)]
    people = [_signed_in(app, email) for email in (partner_user.email, officer.email) for _ in range(2)]
    calls = [
        (lambda client=client, csrf=csrf, upload=upload:
         client.post(f"/partner/uploads/{upload}/commit", data={"csrf_token": csrf}))
        for upload in staged for client, csrf in people
    ]
    responses = _at_once(calls)
    assert not [r for r in responses if isinstance(r, BaseException)], responses
    statuses = [r.status_code for r in responses]
    assert all(s in (303, 409) for s in statuses), statuses
    assert statuses.count(303) == 1
    numbers = _versions_are_whole(store, world.layer)
    with store.engine.connect() as conn:
        committed = conn.execute(select(Upload.id).where(Upload.status == "committed")).scalars().all()
    assert len(committed) == 1 and committed[0] in staged and numbers == [1]


def test_people_asking_for_the_same_view_at_once_share_one_computation(store) -> None:
    make_world(store.engine)
    context = AppContext(settings(store.settings))
    _CONTEXTS.append(context)
    runs: list[int] = []
    lock = threading.Lock()

    def compute() -> str:
        with lock:
            runs.append(1)
        threading.Event().wait(0.3)
        return "figures"

    results = _at_once([lambda: context.view(("area", "E05013630"), compute) for _ in range(WRITERS)])
    assert results == ["figures"] * WRITERS
    assert len(runs) == 1
    assert context.view(("area", "E05013630"), compute) == "figures" and len(runs) == 1
    assert context.view(("area", "other"), compute) == "figures" and len(runs) == 2


def test_a_failed_view_is_not_kept_and_the_next_asker_computes_it_again(store) -> None:
    make_world(store.engine)
    context = AppContext(settings(store.settings))
    _CONTEXTS.append(context)
    answers = iter([RuntimeError("database busy"), "figures"])

    def compute() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with pytest.raises(RuntimeError):
        context.view(("area", "x"), compute)
    assert context.view(("area", "x"), compute) == "figures"
