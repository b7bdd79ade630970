"""The spatial store: SpatiaLite by default, PostGIS in production, one schema for both.

The only package that imports SQLAlchemy: other packages call its query functions, which
return frames or plain dataclasses, and name connections with the re-exported types below.
"""
from sqlalchemy import Connection, Engine

from insight.store.engine import check_connection, make_engine
from insight.store.io import (
    LayerSummary,
    authority_geometry,
    layer_summaries,
    read_areas,
    read_features,
    read_indicator_values,
    read_lookups,
    write_layer,
)
from insight.store.migrate import current_revision, head_revision, upgrade

__all__ = [
    "Connection",
    "Engine",
    "LayerSummary",
    "authority_geometry",
    "check_connection",
    "current_revision",
    "head_revision",
    "layer_summaries",
    "make_engine",
    "read_areas",
    "read_features",
    "read_indicator_values",
    "read_lookups",
    "upgrade",
    "write_layer",
]
