"""The store for one command: opened (and brought up to date) when a command needs it, closed when it ends.

A command may open the store more than once (a profile reads the snapshot and the surveys);
:func:`close_engines` closes every connection they opened, so nothing is left for the garbage
collector (a PostGIS connection left open would be a leaked server session).
"""
from __future__ import annotations

from insight import store
from insight.config import Settings
from insight.store import Engine

_opened: list[Engine] = []


def open_engine(settings: Settings, *, upgrade: bool = True) -> Engine:
    """The configured store, checked, and (unless ``upgrade`` is false) with its schema brought up to date."""
    engine = store.make_engine(settings)
    _opened.append(engine)
    store.check_connection(engine)
    if upgrade:
        store.upgrade(engine)
    return engine


def close_engines() -> None:
    """Close the connections of every store opened by :func:`open_engine` since the last call."""
    while _opened:
        _opened.pop().dispose()
