"""Serve plotly.js's basic bundle (scatter, bar, pie: every trace the app draws) where Dash asks for plotly.js.

Dash's graphs load plotly.js on demand from one fixed address. The full bundle is 4.6 MB and took
about two seconds to load and compile before an area page's first chart appeared; the basic bundle
of the same plotly.js version (``vendor/plotly-basic-<version>.min.js``, MIT licence beside it, from
the npm package ``plotly.js-basic-dist-min``) is 1.2 MB. A chart type outside the bundle would not
draw, so :data:`TRACE_TYPES` lists what it holds and the tests check every figure against it.
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, send_file

PLOTLY_JS_PATH = "/_dash-component-suites/plotly/package_data/plotly.min.js"
BUNDLE = Path(__file__).parent / "vendor" / "plotly-basic-4.1.1.min.js"
TRACE_TYPES = frozenset({"scatter", "bar", "pie"})
CACHE_SECONDS = 86_400


def _bundle() -> Response:
    response = send_file(BUNDLE, mimetype="application/javascript", max_age=CACHE_SECONDS, conditional=True)
    response.headers["X-Plotly-Bundle"] = "basic"
    return response


def install(server: Flask) -> None:
    """Answer Dash's request for plotly.js with the basic bundle (a fixed rule outranks Dash's pattern rule)."""
    server.add_url_rule(PLOTLY_JS_PATH, endpoint="plotly_basic_bundle", view_func=_bundle)
