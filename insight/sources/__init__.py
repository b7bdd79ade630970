"""Source loaders: read one kind of input file into a checked, normalised frame.

Each loader is registered by name (``boundary``, ``police-api``, ``imd``…) and is
called as ``loader(path, **options)`` with options from a layer definition's
``[options]`` table or from CLI flags. See :mod:`insight.sources.base`.
"""
from insight.sources import (  # noqa: F401  registers the loaders
    boundary,
    indicators,
    lookup,
    points,
    police,
    survey,
)
from insight.sources.base import LOADERS, Loaded, Loader, get_loader, loader_names, register

__all__ = ["LOADERS", "Loaded", "Loader", "get_loader", "loader_names", "register"]
