"""The app's pages, registered explicitly with Dash Pages (URL paths are the app's state)."""
from __future__ import annotations

import dash
from dash import Dash

from insight.web import area, catalogue, compare, explore, need, two_figures


def register(app: Dash) -> None:
    """Register every page and add the pages' callbacks to ``app``; safe to call for each app built in one process.

    Dash Pages keeps one registry per process, so registering again replaces the same entries;
    the callbacks belong to ``app`` alone.
    """
    dash.register_page("explore", path="/", name="Map", title="Local Insight — map", layout=explore.layout)
    dash.register_page(
        "area", path_template="/area/<boundary>/<code>", name="Area", title=area.page_title,
        layout=area.layout,
    )
    dash.register_page("compare", path="/compare", name="Compare", title="Local Insight — compare areas",
                       layout=compare.layout)
    dash.register_page("catalogue", path="/catalogue", name="Data catalogue",
                       title="Local Insight — data catalogue", layout=catalogue.layout)
    need.register(app)
    two_figures.register(app)
    for page in (explore, area, compare):
        page.register_callbacks(app)
