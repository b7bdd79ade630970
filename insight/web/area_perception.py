"""The area page's resident-perception section: the area beside the borough, every area, the benchmark."""
from __future__ import annotations

import math
from typing import Any

from dash import html

from insight.analysis.perception import PerceptionResult, change_text, sentence, summary_sentence
from insight.analysis.profiles import Profile
from insight.web.charts import AREA_COLOUR, COMPARATOR_COLOUR, chart_block, chart_layout
from insight.web.components import data_table, section
from insight.web.context import context
from insight.web.figures import chart_text


def _share(value: Any) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.0%}"


def _interval(low: Any, high: Any, form: str = "share") -> str:
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "—"
    return f"{low:.0%} to {high:.0%}" if form == "share" else f"{low:,.1f} to {high:,.1f}"


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def perception_scatter(pr: PerceptionResult, code: str, chart_id: str) -> html.Section:
    """Every area's published share against its recorded rate, both with 95% intervals; this area highlighted."""
    areas = pr.areas[pr.areas["published"].astype(bool)]
    b = pr.borough
    traces: list[dict[str, Any]] = []
    for mine, colour, name in ((False, "#505a5f", "Other areas"), (True, AREA_COLOUR, "This area")):
        part = areas[(areas["area_code"] == code) == mine]
        if part.empty:
            continue
        x, y = part["rate"].astype(float), part["share"].astype(float)
        traces.append({
            "type": "scatter", "x": x.tolist(), "y": y.tolist(), "mode": "markers", "name": name,
            "text": [chart_text(n) for n in part["area_name"]],
            "marker": {"color": colour, "size": 12 if mine else 8, "symbol": "diamond" if mine else "circle"},
            "error_y": {"type": "data", "symmetric": False, "array": (part["ci_high"].astype(float) - y).tolist(),
                        "arrayminus": (y - part["ci_low"].astype(float)).tolist(), "color": colour, "thickness": 1},
            "error_x": {"type": "data", "symmetric": False,
                        "array": (part["rate_ci_high"].astype(float) - x).tolist(),
                        "arrayminus": (x - part["rate_ci_low"].astype(float)).tolist(), "color": colour,
                        "thickness": 1},
            "hovertemplate": "%{text}: %{y:.0%}, %{x:.1f} per 1,000<extra></extra>",
        })
    dashed = {"dash": "dash", "color": COMPARATOR_COLOUR}
    shapes = [{"type": "line", "xref": "x", "x0": b["rate"], "x1": b["rate"], "yref": "paper", "y0": 0, "y1": 1,
               "line": dashed}]
    if b.get("share") is not None:
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": b["share"],
                       "y1": b["share"], "line": dashed})
    fig = {"data": traces, "layout": {"shapes": shapes, "yaxis": {"tickformat": ".0%"}}}
    label = sentence(pr.crime_label)
    chart_layout(fig, height=420, xaxis=f"{label} per 1,000 residents a year ({pr.crime_period})",
                 yaxis=f"{sentence(pr.question.reported_label)} (wave {pr.wave})")
    hidden = int((~pr.areas["published"].astype(bool)).sum())
    summary = (f"{len(areas)} areas with a published share, each with its 95% interval; the dashed lines are "
               f"{b['area_name']} ({_share(b.get('share'))}, {b['rate']:,.1f} per 1,000). "
               + (f"{hidden} areas are not shown: too few responses to publish. " if hidden else "")
               + ("ILLUSTRATIVE survey data." if pr.survey.illustrative else ""))
    rows = ([r.area_name, _share(r.share), _interval(r.ci_low, r.ci_high), f"{r.rate:,.1f}",
             _interval(r.rate_ci_low, r.rate_ci_high, "rate"), r.classification]
            for r in pr.areas.itertuples())
    table = data_table(f"{sentence(pr.question.reported_label)} and {pr.crime_label} by area",
                       ["Area", "Share", "95% interval", "Rate per 1,000", "95% interval", "Classification"], rows,
                       table_id=f"{chart_id}-table")
    heading = f"All areas: {pr.question.reported_label} against {pr.crime_label}"
    return chart_block(chart_id, heading, summary, fig, table)


def benchmark_table(pr: PerceptionResult, k: int) -> html.Details | None:
    """The real published results the question is matched to (e.g. MOPAC PAS 2016), for comparison."""
    layer, found = context().benchmark(pr.question)
    if layer is None:
        return None
    rows = ([r.area_name, str(r.period), _share(r.share)] for r in found.itertuples())
    return html.Details([
        html.Summary(f"Real published results for comparison: {layer.title}"),
        html.P(f"The same question asked by {layer.publisher} ({layer.licence}). Real figures, for the areas "
               "that source publishes; they are not the survey above."),
        data_table(f"{layer.title}: {pr.question.reported_label}", ["Area", "Year", "Share"], rows,
                   table_id=f"benchmark-table-{k}"),
    ], className="benchmark")


def _change(values: Any, waves: list[str], published: bool = True) -> str:
    if len(waves) < 2 or not published:
        return "—"
    return change_text(values.get("change"), values.get("change_ci_low"), values.get("change_ci_high"),
                       values.get("significant"))


def comparison_rows(result: Profile, pr: PerceptionResult) -> list[list[str]]:
    """The area's row and the borough's row of one question's results, formatted for the page."""
    row = pr.row(result.code)
    b = pr.borough
    return [
        [result.name, _share(_number(row["share"])), _interval(_number(row["ci_low"]), _number(row["ci_high"])),
         _share(_number(row.get("model_share"))),
         "—" if not math.isfinite(_number(row["n"])) else f"{_number(row['n']):,.0f}",
         f"{row['rate']:,.1f}", _interval(row["rate_ci_low"], row["rate_ci_high"], "rate"),
         _change(row, pr.waves, bool(row["published"]))],
        [b["area_name"], _share(b.get("share")), _interval(b.get("ci_low"), b.get("ci_high")), "—",
         "—" if b.get("n") is None else f"{b['n']:,.0f}", f"{b['rate']:,.1f}",
         _interval(b["rate_ci_low"], b["rate_ci_high"], "rate"), _change(b, pr.waves)],
    ]


def _question_block(result: Profile, pr: PerceptionResult, k: int) -> list:
    """One question: the verdict in words, the area against the borough, the method, benchmark and chart."""
    head = ["Area", "Share", "95% interval", "Small-area estimate", "Respondents", "Rate per 1,000 a year",
            "95% interval", "Change since previous wave"]
    return [
        html.H3(f"{pr.question.text} ({pr.question.reported_label})", id=f"perception-{pr.question.id}"),
        html.P(summary_sentence(pr, result.code), className="perception-verdict"),
        data_table(f"{sentence(pr.question.reported_label)} and {pr.crime_label}: {result.name} and "
                   f"{pr.borough['area_name']}", head, comparison_rows(result, pr), table_id=f"perception-table-{k}"),
        html.Details([html.Summary("How these figures are made"), html.P(pr.method), html.P(pr.rule),
                      html.P("Change since the previous wave: difference of the two weighted shares with a "
                             "Newcombe interval; across wards the p-values are adjusted for testing many areas "
                             "at once (Benjamini-Hochberg), so a ward is only flagged when the change is more "
                             "than sampling noise.")]),
        benchmark_table(pr, k),
        perception_scatter(pr, result.code, f"perception-chart-{k}"),
    ]


def perception_section(result: Profile, results: list[PerceptionResult], problem: str | None) -> html.Section | None:
    """Residents' perceptions beside recorded crime: this area and the borough side by side, then all areas."""
    if not results:
        return None if problem is None else section("perception", "Resident perception and recorded crime",
                                                    [html.P(f"Not available: {problem}")])
    first = results[0]
    parts = [
        html.P(html.Strong("ILLUSTRATIVE: these survey figures are generated, not real responses."),
               className="illustrative") if first.survey.illustrative else None,
        html.P(f"From {first.survey.title}, wave {first.wave} (waves: {', '.join(first.waves)}). An area is called "
               f"different only when its 95% interval excludes the {first.borough['area_name']} value; shares are "
               "withheld where fewer than 30 people answered or a published figure could reveal fewer than 5. "
               f"Recorded rates: {first.crime_source}, {first.crime_period}."),
        *[html.P(n, className="muted") for n in first.notes if not n.startswith("ILLUSTRATIVE")],
    ]
    for k, pr in enumerate(r for r in results if result.code in set(r.areas["area_code"])):
        parts += _question_block(result, pr, k)
    return section("perception", "Resident perception and recorded crime"
                   + (" (ILLUSTRATIVE)" if first.survey.illustrative else ""), [p for p in parts if p is not None])
