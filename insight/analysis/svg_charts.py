"""Static SVG charts and a map for printed reports: no scripts, nothing fetched, readable without colour.

Each chart is one ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that says what it shows, so a
screen reader (and a PDF's text layer) has the figures too. Every label is escaped; a missing value
(NaN or infinite) draws no bar and reads "no data".
"""
from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
from shapely.geometry.base import BaseGeometry

from insight.geo.crs import to_metric

AREA_COLOUR = "#0072B2"
COMPARATOR_COLOUR = "#B5441A"
TEXT_COLOUR = "#0b0c0c"
GRID_COLOUR = "#b1b4b6"
NO_DATA = "no data"
MAP_WIDTH = 480
MAP_HEIGHT = 360
Formatter = Callable[[float], str]
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class Series:
    """One named row of values for a chart (the area, or its comparator)."""

    name: str
    values: Sequence[float]
    colour: str = AREA_COLOUR


def esc(text: object) -> str:
    """Text made safe inside SVG/HTML markup and attributes; characters XML cannot hold are dropped."""
    return html.escape(_NOT_XML.sub("", str(text)), quote=True)


def finite(value: object) -> float | None:
    """The value as a float, or None when it is missing, NaN or infinite."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def plain_number(value: float) -> str:
    """A number as a person reads it: whole with thousands separators, else one decimal."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _shown(value: object, fmt: Formatter) -> str:
    number = finite(value)
    return NO_DATA if number is None else fmt(number)


def _scale_top(series: Sequence[Series]) -> float:
    values = [v for s in series for v in (finite(x) for x in s.values) if v is not None and v > 0]
    return max(values) if values else 1.0


def _open(chart_id: str, width: float, height: float, title: str, desc: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'width="{width:.0f}" height="{height:.0f}" role="img" class="chart-svg" '
            f'aria-labelledby="{esc(chart_id)}-title {esc(chart_id)}-desc" '
            f'font-family="Arial, Helvetica, sans-serif" font-size="11" fill="{TEXT_COLOUR}">',
            f'<title id="{esc(chart_id)}-title">{esc(title)}</title>',
            f'<desc id="{esc(chart_id)}-desc">{esc(desc)}</desc>']


def _legend(series: Sequence[Series], y: float) -> list[str]:
    out, x = [], 0.0
    for s in series:
        out.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{esc(s.colour)}"/>'
                   f'<text x="{x + 14:.1f}" y="{y:.1f}">{esc(s.name)}</text>')
        x += 24 + 6.2 * len(s.name)
    return out


def describe(labels: Sequence[str], series: Sequence[Series], fmt: Formatter) -> str:
    """The chart's figures in words: 'label: area value, comparator value; …'."""
    parts = []
    for i, label in enumerate(labels):
        values = ", ".join(f"{s.name} {_shown(s.values[i] if i < len(s.values) else None, fmt)}" for s in series)
        parts.append(f"{label}: {values}")
    return "; ".join(parts) + "."


def bar_chart(chart_id: str, labels: Sequence[str], series: Sequence[Series], *, title: str,
              fmt: Formatter = plain_number, width: int = 640, label_width: int = 190) -> str:
    """Horizontal bars, one group per label and one bar per series, each bar's length proportional to its value.

    Negative values draw no bar (the value is still written beside it).
    """
    bar, gap = 9.0, 5.0
    group = bar * len(series) + gap
    legend_h = 18.0 if len(series) > 1 else 0.0
    height = legend_h + group * len(labels) + 6
    plot = width - label_width - 70
    top = _scale_top(series)
    out = _open(chart_id, width, height, title, describe(labels, series, fmt))
    if len(series) > 1:
        out += _legend(series, 11)
    for i, label in enumerate(labels):
        y0 = legend_h + i * group
        text = str(label) if len(str(label)) <= 32 else str(label)[:31] + "…"
        out.append(f'<text x="{label_width - 6}" y="{y0 + group / 2 + 1:.1f}" text-anchor="end">{esc(text)}</text>')
        for j, s in enumerate(series):
            value = finite(s.values[i]) if i < len(s.values) else None
            length = 0.0 if value is None or value <= 0 else plot * (value / top)
            y = y0 + j * bar
            out.append(f'<rect class="bar" x="{label_width}" y="{y:.1f}" width="{length:.2f}" height="{bar - 1:.1f}" '
                       f'fill="{esc(s.colour)}" data-value="{"" if value is None else repr(value)}"/>')
            out.append(f'<text x="{label_width + length + 3:.1f}" y="{y + bar - 2:.1f}" font-size="9">'
                       f'{esc(_shown(value, fmt))}</text>')
    out.append(f'<line x1="{label_width}" y1="{legend_h}" x2="{label_width}" y2="{height - 4:.1f}" '
               f'stroke="{TEXT_COLOUR}" stroke-width="1"/></svg>')
    return "".join(out)


def column_chart(chart_id: str, labels: Sequence[str], values: Sequence[float], *, title: str, desc: str,
                 fmt: Formatter = plain_number, width: int = 640, height: int = 170,
                 colour: str = AREA_COLOUR) -> str:
    """Vertical bars (e.g. records by month), each bar's height proportional to its value, with a value axis."""
    left, bottom, top_pad = 44.0, 36.0, 8.0
    plot_w, plot_h = width - left - 6, height - bottom - top_pad
    top = _scale_top([Series("", values)])
    step = plot_w / max(len(labels), 1)
    out = _open(chart_id, width, height, title, desc)
    for tick in (0.0, 0.5, 1.0):
        y = top_pad + plot_h * (1 - tick)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 6}" y2="{y:.1f}" stroke="{GRID_COLOUR}" '
                   f'stroke-width="0.6"/><text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end" font-size="9">'
                   f'{esc(fmt(top * tick))}</text>')
    every = max(1, math.ceil(len(labels) / 12))
    for i, (label, raw) in enumerate(zip(labels, values)):
        value = finite(raw)
        h = 0.0 if value is None or value <= 0 else plot_h * (value / top)
        x = left + i * step + step * 0.12
        out.append(f'<rect class="bar" x="{x:.1f}" y="{top_pad + plot_h - h:.2f}" width="{step * 0.76:.2f}" '
                   f'height="{h:.2f}" fill="{esc(colour)}" data-value="{"" if value is None else repr(value)}"/>')
        if i % every == 0:
            out.append(f'<text x="{x + step * 0.38:.1f}" y="{height - bottom + 14:.1f}" text-anchor="middle" '
                       f'font-size="9">{esc(label)}</text>')
    out.append(f'<line x1="{left}" y1="{top_pad + plot_h:.1f}" x2="{width - 6}" y2="{top_pad + plot_h:.1f}" '
               f'stroke="{TEXT_COLOUR}" stroke-width="1"/></svg>')
    return "".join(out)


def _path(geom: BaseGeometry, xy: Callable[[float, float], str]) -> str:
    parts = []
    for poly in getattr(geom, "geoms", [geom]):
        for ring in [poly.exterior, *poly.interiors]:
            parts.append("M" + " L".join(xy(x, y) for x, y in ring.coords) + " Z")
    return " ".join(parts)


def svg_map(name: str, layers: dict[str, gpd.GeoDataFrame], *, width: int = MAP_WIDTH,
            height: int = MAP_HEIGHT) -> str:
    """An inline SVG map of the area and its points (British National Grid, north up), fitted inside
    ``width`` x ``height`` pixels: no scripts, no network."""
    area = to_metric(layers["area"])
    minx, miny, maxx, maxy = area.total_bounds
    pad = max(maxx - minx, maxy - miny) * 0.05 + 50
    minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
    scale = min(width / (maxx - minx), height / (maxy - miny))
    w, h = (maxx - minx) * scale, (maxy - miny) * scale

    def xy(x: float, y: float) -> str:
        return f"{(x - minx) * scale:.1f},{(maxy - y) * scale:.1f}"

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0f} {h:.0f}" width="{w:.0f}" '
           f'height="{h:.0f}" role="img" aria-labelledby="map-title" class="map-svg"><title id="map-title">Map of '
           f"{esc(name)} with its assets and recorded crime</title>",
           f'<path d="{_path(area.geometry.iloc[0], xy)}" fill="#e8eef4" stroke="#1d3557" stroke-width="2" '
           'fill-rule="evenodd"/>']
    styles = {"crime": ("#b2182b", 1.4), "assets": ("#2166ac", 3.2)}
    for layer in ("crime", "assets"):
        if layer in layers and len(layers[layer]):
            pts = to_metric(layers[layer])
            colour, r = styles[layer]
            spots = dict.fromkeys(xy(x, y) for x, y in zip(pts.geometry.x, pts.geometry.y)
                                  if np.isfinite(x) and np.isfinite(y))
            for spot in spots:
                cx, cy = spot.split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{colour}" fill-opacity="0.7"/>')
    out.append("</svg>")
    return "".join(out)
