"""Shared set-up for the partner-data tests: a council boundary, organisations, users and an asset layer."""
from __future__ import annotations

import argparse
import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, text
from werkzeug.serving import make_server

from insight.cli.engines import close_engines
from insight.cli.partner import add_commands
from insight.config import Settings, load_settings
from insight.layers import load_specs
from insight.partner import auth, versions
from insight.sources.ingest import load_specs_into
from insight.store.accounts import insert_user
from insight.store.models import Base
from tests.conftest import DATA_DIR, FIXTURES, LAYERS_DIR, open_store

VENUES_CSV = FIXTURES / "partner" / "venues.csv"
ORUK = FIXTURES / "oruk"
CATEGORIES = ["Culture", "Nightlife", "Urban sport", "Landmarks"]
PASSWORD = "correct horse battery staple"


@lru_cache(maxsize=1)
def _password_hash() -> str:
    return auth.hash_password(PASSWORD)


def settings(base: Settings | None = None, **overrides: object) -> Settings:
    """Settings for partner tests: no environment, cookies allowed over plain HTTP."""
    partner = {"cookie_secure": False, "secret_key": "t" * 48} | overrides
    return replace(base, **partner) if base is not None else load_settings(env={}, **partner)


def add_user(engine: Engine, email: str, role: str, org_slug: str | None = None) -> auth.Principal:
    """A user inserted directly (one shared Argon2 hash keeps the tests fast)."""
    with engine.begin() as conn:
        org_id = auth.organisation_id(conn, org_slug, create=True) if org_slug else None
        insert_user(conn, email, name="", role=role, organisation_id=org_id, password_hash=_password_hash())
    return auth.user_by_email(engine, email)


@dataclass
class World:
    """A store with the borough outline, one user per role and a venues layer owned by one partner."""

    engine: Engine
    users: dict[str, auth.Principal]
    other_partner: auth.Principal
    layer: str = "partner_venues"


def make_world(engine: Engine, *, boundaries: tuple[str, ...] = ("borough",)) -> World:
    """Load the borough outline and make users and the ``partner_venues`` layer."""
    specs = [s for s in load_specs(LAYERS_DIR) if s.name in boundaries]
    load_specs_into(engine, specs, DATA_DIR, echo=lambda _: None)
    users = {role: add_user(engine, f"{role}@example.org", role) for role in
             ("councillor", "officer", "analyst", "admin")}
    users["partner"] = add_user(engine, "partner@barnet-together.example.org", "partner", "barnet-together")
    users["public"] = auth.ANONYMOUS
    other = add_user(engine, "partner@other-charity.example.org", "partner", "other-charity")
    with engine.begin() as conn:
        versions.create_asset_layer(conn, "partner_venues", title="Partner venues",
                                    owner_org_id=users["partner"].org_id)
    versions.set_rules(engine, "partner_venues", actor=users["officer"], partner_upload=True, categories=CATEGORIES)
    return World(engine, users, other)


def fingerprint(engine: Engine) -> dict[str, str]:
    """A digest of every row of every application table, to prove that nothing changed."""
    out = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(text(f'SELECT * FROM "{table.name}" ORDER BY 1')).all()
            out[table.name] = f"{len(rows)}:" + hashlib.sha256(repr(rows).encode()).hexdigest()
    return out


def write(path: Path, content: bytes | str) -> Path:
    """Write ``content`` to ``path`` and return it."""
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def run_cli(store, capsys, *argv: str) -> str:
    """Run one partner command (as ``insight`` would) and return what it printed; its connections are closed."""
    parser = argparse.ArgumentParser(prog="insight")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    try:
        assert args.func(args, store.settings) == 0
    finally:
        close_engines()
    return capsys.readouterr().out


def serve_world(tmp_dir: Path, make_app: Callable) -> Iterator[tuple[str, object]]:
    """A SpatiaLite store with the partner world (borough and wards loaded), served on loopback: (url, world)."""
    store = open_store("spatialite", tmp_dir)
    world = make_world(store.engine, boundaries=("borough", "wards_2022"))
    server = make_server("127.0.0.1", 0, make_app(store), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", world
    finally:
        server.shutdown()
        store.close()
