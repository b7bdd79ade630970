"""The need page's sortable table and its "How this is calculated" section."""
from __future__ import annotations

import math
from typing import Any

from dash import html

from insight.analysis.need_areas import NeedResult, asset_choices
from insight.web.components import aria
from insight.web.need_view import NeedView

ORDER_WORDS = {"asc": "ascending", "desc": "descending"}


def _num(value: Any, digits: int = 2) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "—"
    return f"{number:,.{digits}f}" if math.isfinite(number) else "—"


def _interval(row: Any, key: str, digits: int = 2) -> str:
    low, high = row.get(f"{key}_low"), row.get(f"{key}_high")
    text = _num(row.get(key), digits)
    if text != "—" and _num(low) != "—" and _num(high, digits) != "—":
        text += f" ({_num(low, digits)} to {_num(high, digits)})"
    return text


def columns(result: NeedResult) -> list[tuple[str, str]]:
    """The table's columns in order: key and heading (every one sortable)."""
    ingredients = [(i.key, i.label + (" (95% interval)" if i.sampler != "fixed" else "")) for i in result.ingredients]
    assets = [(k, f"{label}: places per 1,000 residents") for k, label in asset_choices().items()]
    return [("name", "Area"), ("composite", "Need score (90% interval)"),
            ("rank", "Need rank, 1 = most (90% interval)"), ("need_percentile", "Need percentile"),
            *ingredients, ("residents", "Usual residents (2021)"), *assets,
            ("flagged", "High need, few assets")]


def _sorted(result: NeedResult, view: NeedView, flags: list[bool]) -> Any:
    rows = result.rows.assign(flagged=flags)
    key = view.sort if view.sort in rows else "composite"
    if key == "rank":
        key, ascending = "composite", view.order == "asc"
        ascending = not ascending
    else:
        ascending = view.order == "asc"
    return rows.sort_values(key, ascending=ascending, na_position="last", kind="stable")


def table_body(result: NeedResult, view: NeedView, flags: list[bool]) -> list[html.Tr]:
    """One row per area, in the view's sort order; the area's name links to its page."""
    out = []
    ingredients = result.ingredients
    for _, row in _sorted(result, view, flags).iterrows():
        cells: list[Any] = [html.Th(html.A(row["name"], href=f"/area/{result.boundary}/{row['code']}"), scope="row")]
        cells.append(html.Td(_interval(row, "composite"), className="num"))
        rank = _num(row["rank"], 0)
        if rank != "—":
            rank += f" ({_num(row['rank_low'], 0)} to {_num(row['rank_high'], 0)})"
        cells += [html.Td(rank, className="num"), html.Td(_num(row["need_percentile"], 0), className="num")]
        for i in ingredients:
            digits = 0 if i.key == "deprivation" else 2
            cells.append(html.Td(_interval(row, i.key, digits), className="num"))
        cells.append(html.Td(_num(row["residents"], 0), className="num"))
        cells += [html.Td(_num(row[k]), className="num") for k in asset_choices()]
        cells.append(html.Td("Yes" if row["flagged"] else "No"))
        out.append(html.Tr(cells))
    return out


def sort_state(key: str, view: NeedView) -> str:
    """The aria-sort value of column ``key``'s heading."""
    return ORDER_WORDS[view.order] if view.sort == key else "none"


def _heading(key: str, label: str, view: NeedView) -> html.Th:
    button = html.Button(label, id={"type": "need-sort", "column": key}, type="button", className="sort-button")
    return html.Th(button, scope="col", id={"type": "need-th", "column": key}, **aria(sort=sort_state(key, view)))


def need_table(result: NeedResult, view: NeedView, flags: list[bool]) -> html.Section:
    """Every area with its need score, ingredients and assets; each heading sorts the table."""
    head = [_heading(k, label, view) for k, label in columns(result)]
    caption = (f"Every area of {result.boundary_title}: need score, its ingredients and assets per 1,000 residents. "
               "Press a column heading to sort by it; press it again to reverse.")
    table = html.Table([html.Caption(caption, id="need-table-caption"), html.Thead(html.Tr(head)),
                        html.Tbody(table_body(result, view, flags), id="need-tbody")],
                       id="need-table", className="data-table figures")
    return html.Section([
        html.H2("Every area", id="need-table-title"),
        html.Div(table, className="table-scroll", tabIndex="0", role="region",
                 **aria(labelledby="need-table-caption")),
    ], **aria(labelledby="need-table-title"))


def _ingredient_item(result: NeedResult, i: Any) -> html.Li:
    total = sum(result.weights.values())
    weight = result.weights[i.key]
    share = f"{weight / total:.0%}" if total > 0 else "0%"
    direction = "higher means more need" if i.direction > 0 else "lower means more need"
    return html.Li([html.Strong(i.label), html.Ul([
        html.Li(f"Weight {weight:g} ({share} of the score); {direction}."),
        html.Li(f"Source: {i.source}; period: {i.period}; boundary vintage: {i.vintage or 'not stated'}."),
        html.Li(f"How: {i.method}."),
        html.Li(f"Uncertainty: {i.uncertainty}."),
    ])])


def method_section(result: NeedResult) -> html.Section:
    """How this is calculated: ingredients, weights, sources, vintages, standardisation, simulation, assets."""
    left_out = sorted(set(result.weights) - {i.key for i in result.ingredients})
    return html.Section([
        html.H2("How this is calculated", id="need-method-title"),
        html.P(f"Ingredients of need for the areas of {result.boundary_title} ({result.vintage}):"),
        html.Ul([_ingredient_item(result, i) for i in result.ingredients], id="need-ingredients"),
        html.P(f"Ingredients with a weight of zero count for nothing. Not available here: {', '.join(left_out)}."
               if left_out else "Every ingredient is available."),
        html.P(f"Each ingredient is turned so that higher means more need and put on a common scale by "
               f"{result.method}. The need score is the weighted mean of those scaled values; an area missing "
               "an ingredient is scored on the others, their weights rescaled. The need percentile places the "
               "score among the areas (100 = the highest)."),
        html.P(f"Uncertainty: {result.draws:,} simulated draws (seed {result.seed}); each draw takes every "
               "ingredient from its own interval, rescales and recomputes every area's score and rank. The 90% "
               "intervals shown hold the middle 90% of the draws."),
        html.P(f"Assets: places of each kind inside the area (counted when loaded) per 1,000 usual residents "
               f"(Census 2021; {result.population_method}). Sources: {'; '.join(result.asset_sources) or 'none'}."
               + (f" ILLUSTRATIVE (generated) layers: {', '.join(result.asset_illustrative)}."
                  if result.asset_illustrative else "")),
        html.P("Map: areas are split into thirds by need score and by all assets per 1,000 residents, giving nine "
               "colours. \"High need, few assets\" uses your thresholds instead: need percentile at or above the "
               "first, and the chosen asset figure at or below the second."),
    ], className="profile-section", **aria(labelledby="need-method-title"))

