"""The app's pages, registered explicitly with Dash Pages (URL paths are the app's state)."""
from __future__ import annotations

import dash

from insight.web import area, catalogue, compare, explore


def register() -> None:
    """Register every page; safe to call for each app built in one process."""
    dash.register_page("explore", path="/", name="Map", title="Local Insight — map", layout=explore.layout)
    dash.register_page(
        "area", path_template="/area/<boundary>/<code>", name="Area", title=area.page_title,
        layout=area.layout,
    )
    dash.register_page("compare", path="/compare", name="Compare", title="Local Insight — compare areas",
                       layout=compare.layout)
    dash.register_page("catalogue", path="/catalogue", name="Data catalogue",
                       title="Local Insight — data catalogue", layout=catalogue.layout)
