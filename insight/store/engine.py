"""Engines for the two back ends: a SpatiaLite file (default) or PostGIS."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import pyogrio  # noqa: F401  # GDAL must be loaded before mod_spatialite, or GPKG writes segfault
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError, DBAPIError, InterfaceError, OperationalError

from insight.config import Settings
from insight.errors import StoreError

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
"""How long a SpatiaLite transaction waits for another writer to finish before giving up."""


def _autobegun() -> bool:
    """True when the transaction being begun was started by a first statement, not by ``begin()``.

    Every write in Local Insight runs in an explicit ``engine.begin()``/``conn.begin()``;
    reads begin implicitly (SQLAlchemy's autobegin).
    """
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("sqlalchemy"):
        if frame.f_code.co_name == "_autobegin":
            return True
        frame = frame.f_back
    return False


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
    engine = create_engine(url, module=sqlean.dbapi2, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _load(dbapi_conn: Any, record: Any) -> None:
        try:
            load_spatialite(dbapi_conn, record, transaction=True, init_mode="WGS84")  # type: ignore[no-untyped-call]
        except sqlean.dbapi2.DatabaseError as exc:
            log.error("cannot open the SpatiaLite database %r: %s", database, exc)
            raise StoreError("the database is not available: its file cannot be read as a database. Check "
                             "INSIGHT_DATABASE_URL, or restore the file from a backup") from exc
        except Exception as exc:  # the extension failing to load is an environment problem
            log.error("cannot load the SpatiaLite extension %r: %s", library, exc)
            raise StoreError(
                "cannot load the SpatiaLite extension (INSIGHT_SPATIALITE_LIBRARY). On Debian install it "
                "with: apt-get install libsqlite3-mod-spatialite"
            ) from exc
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.close()

    # pysqlite's own transaction handling defers BEGIN; take control so a load is one transaction.
    @event.listens_for(engine, "connect")
    def _no_autobegin(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None

    # A deferred transaction that reads, then writes, fails at once ("database is locked") when
    # another writer holds the file; IMMEDIATE takes the write lock first, waiting up to the timeout.
    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN" if _autobegun() else "BEGIN IMMEDIATE")

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
            f"unsupported database URL (a '{backend}' URL): "
            "use sqlite:///path/file.sqlite (SpatiaLite) or postgresql+psycopg://… (PostGIS)"
        )
    return engine


def check_connection(engine: Engine) -> str:
    """The spatial extension's version; a plain StoreError if the database cannot be used (details are logged)."""
    safe_url = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                return "SpatiaLite " + str(conn.execute(text("SELECT spatialite_version()")).scalar_one())
            return "PostGIS " + str(conn.execute(text("SELECT postgis_lib_version()")).scalar_one())
    except StoreError:
        raise
    except Exception as exc:
        log.error("database %s cannot be used: %s", safe_url, getattr(exc, "orig", exc))
        if database_unavailable(exc):
            raise StoreError("cannot connect to the database: check INSIGHT_DATABASE_URL and that the database "
                             "server is running and readable") from exc
        raise StoreError("the database has no usable spatial extension (SpatiaLite or PostGIS): install it, "
                         "or point INSIGHT_DATABASE_URL at a database that has it") from exc


def ping(engine: Engine) -> None:
    """Run a trivial query; a plain StoreError if the database does not answer (details are logged)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1")).scalar_one()
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        log.error("database %s does not answer: %s", engine.url.render_as_string(hide_password=True),
                  getattr(exc, "orig", exc))
        raise StoreError("the database is not available right now") from exc


def database_unavailable(error: BaseException) -> bool:
    """True if ``error`` means the database cannot be reached or read (rather than a fault in a query)."""
    if isinstance(error, StoreError | OperationalError | InterfaceError):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return type(error) is DatabaseError
