"""Small building blocks the pages share: URL values, native form controls, accessible tables, sections."""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import dash_leaflet as dl
from dash import html
from dash.development.base_component import Component

from insight.analysis.places import Places
from insight.analysis.profiles import period_query
from insight.config import Settings


def aria(**attributes: Any) -> dict[str, Any]:
    """ARIA attributes to spread into a component: ``aria(labelledby="x")`` gives ``aria-labelledby="x"``."""
    return {f"aria-{name}": value for name, value in attributes.items()}


def data(**attributes: Any) -> dict[str, Any]:
    """Data attributes to spread into a component: ``data(format="csv")`` gives ``data-format="csv"``."""
    return {f"data-{name}": value for name, value in attributes.items()}


def shortened(value: str | None, limit: int = 60) -> str:
    """A URL value shortened for a message (Dash escapes it when shown)."""
    value = value or ""
    return value if len(value) <= limit else value[:limit] + "…"


def single(value: str | list | None) -> str | None:
    """One value of a query parameter that may have been given more than once."""
    if isinstance(value, list):
        return value[-1] if value else None
    return value or None


def select(select_id: str, options: list[dict], value: str | list | None, *, key: str | None = None,
           described: bool = False, multiple: bool = False, size: int | None = None) -> html.Select:
    """A native <select>: keyboard and screen-reader friendly where Dash 4's dropdowns are not.

    Its value is read when the form's button is pressed; ``key`` remounts it when the view changes;
    ``described`` points it at the hint that :func:`field` puts under its label; ``multiple``
    takes several choices (``value`` is then a list).
    """
    chosen = set(value) if isinstance(value, list) else {value}
    extra: dict[str, Any] = {}
    if key is not None:
        extra["key"] = f"{select_id}:{key}"
    if described:
        extra["aria-describedby"] = f"{select_id}-hint"
    if multiple:
        extra |= {"multiple": True, "size": size}
    return html.Select([html.Option(o["label"], value=o["value"], selected=o["value"] in chosen) for o in options],
                       id=select_id, name=select_id, **extra)


def field(label: str, control: Any, hint: str | None = None, *, class_name: str | None = "form-field") -> html.Div:
    """A label above its control, with an optional hint (the control's description)."""
    parts: list[Component] = [html.Label(label, htmlFor=control.id, className="field")]
    if hint:
        parts.append(html.P(hint, id=f"{control.id}-hint", className="hint"))
    return html.Div([*parts, control], className=class_name)


def slug(text: str) -> str:
    """An element id made from a caption."""
    return "t-" + re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


def data_table(caption: str, head: list[str], rows: Iterable[Sequence[Any]], *, table_id: str | None = None,
               numeric_from: int = 1) -> html.Div:
    """An accessible data table: caption, column headers, the first cell of a row as its header.

    It sits in a labelled, keyboard-scrollable box so a wide table scrolls on its own on a narrow
    screen instead of widening the page.
    """
    body = []
    for row in rows:
        cells: list[Component] = [html.Th(row[0], scope="row")]
        cells += [html.Td(v, className="num" if i >= numeric_from else None) for i, v in enumerate(row[1:], start=1)]
        body.append(html.Tr(cells))
    caption_id = f"{table_id or slug(caption)}-caption"
    extra: dict[str, Any] = {"id": table_id} if table_id else {}
    table = html.Table([html.Caption(caption, id=caption_id),
                        html.Thead(html.Tr([html.Th(h, scope="col") for h in head])), html.Tbody(body)],
                       className="data-table figures", **extra)
    return html.Div(table, className="table-scroll", tabIndex="0", role="region",
                    **aria(labelledby=caption_id))


def section(section_id: str, title: str, children: list) -> html.Section:
    """A titled section of a page (``None`` children are left out), labelled by its heading."""
    return html.Section([html.H2(title, id=section_id), *[c for c in children if c is not None]],
                        className="profile-section", **aria(labelledby=section_id))


def unavailable(title: str, problem: Exception, *, class_name: str | None = "status") -> html.Div:
    """The page to show when the store cannot be read: its title and why."""
    return html.Div([html.H1(title), html.P(f"The database is not available: {problem}", role="alert",
                                            className=class_name)])


def area_options(places: Places, boundary: str) -> list[dict]:
    """The areas of a boundary layer as choices, in order of name."""
    areas = places.boundary(boundary).areas
    return [{"label": n, "value": c} for c, n in sorted(zip(areas["code"], areas["name"]), key=lambda t: t[1])]


def tile_layers(settings: Settings) -> list:
    """The base map's tile layer, or none when no tile URL is configured (boundaries still draw)."""
    return [dl.TileLayer(url=settings.tile_url, attribution=settings.tile_attribution)] if settings.tile_url else []


def layer_period_query(layer: str | None, period: tuple[int, int] | None) -> dict[str, str]:
    """The URL parameters that carry a chosen point layer and period (empty when not chosen)."""
    out = {"layer": layer} if layer else {}
    if period:
        out["period"] = period_query(period)
    return out
