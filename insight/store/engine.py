"""Engines for the two back ends: a SpatiaLite file (default) or PostGIS."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyogrio  # noqa: F401  # GDAL must be loaded before mod_spatialite, or GPKG writes segfault
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from insight.config import Settings
from insight.errors import StoreError


def _spatialite_engine(url: str, library: str) -> Engine:
    try:
        import sqlean
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise StoreError("SpatiaLite needs the 'sqlean.py' package: pip install sqlean.py") from exc
    from geoalchemy2 import load_spatialite

    os.environ["SPATIALITE_LIBRARY_PATH"] = library
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, module=sqlean.dbapi2)

    @event.listens_for(engine, "connect")
    def _load(dbapi_conn: Any, record: Any) -> None:
        try:
            load_spatialite(dbapi_conn, record, transaction=True, init_mode="WGS84")  # type: ignore[no-untyped-call]
        except Exception as exc:  # the extension failing to load is an environment problem
            raise StoreError(
                f"cannot load the SpatiaLite extension '{library}' ({exc}). On Debian install it "
                "with: apt-get install libsqlite3-mod-spatialite"
            ) from exc
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    # pysqlite's own transaction handling defers BEGIN; take control so a load is one transaction.
    @event.listens_for(engine, "connect")
    def _no_autobegin(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


def make_engine(settings: Settings) -> Engine:
    """An engine for the configured store; raise StoreError with a fix if it cannot be used."""
    url = settings.resolved_database_url
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        engine = _spatialite_engine(url, settings.spatialite_library)
    elif backend == "postgresql":
        engine = create_engine(url, pool_pre_ping=True)
    else:
        raise StoreError(
            f"unsupported database URL '{make_url(url).render_as_string(hide_password=True)}': "
            "use sqlite:///path/file.sqlite (SpatiaLite) or postgresql+psycopg://… (PostGIS)"
        )
    return engine


def check_connection(engine: Engine) -> str:
    """The spatial extension's version; StoreError naming the database if unreachable."""
    safe_url = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                return "SpatiaLite " + str(conn.execute(text("SELECT spatialite_version()")).scalar_one())
            return "PostGIS " + str(conn.execute(text("SELECT postgis_lib_version()")).scalar_one())
    except OperationalError as exc:
        raise StoreError(f"cannot connect to the database {safe_url}: {exc.orig}") from exc
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"the database {safe_url} has no usable spatial extension: {exc}") from exc
