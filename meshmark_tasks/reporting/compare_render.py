"""A RunComparison as a text table (the `meshmark compare` default) and as a self-contained HTML
page in the trend report's style: its plotly helpers and palette (charts.py), plotly.js inlined
once, every string from a run escaped (Jinja2 autoescape; trace names and categories HTML-escaped
before plotly sees them)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.reporting.charts import (
    Chart,
    _palette,
    _text,
    chart,
    chart_script,
    numbers,
    plotly_js,
    trace,
)
from meshmark_tasks.reporting.compare import RunComparison, compare_runs
from meshmark_tasks.reporting.compare_stats import METRICS

if TYPE_CHECKING:
    from meshmark_tasks.reporting.history import History
    from meshmark_tasks.storage import DatasetStore

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("meshmark_tasks.reporting", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
SIDE_COLORS = {"A": _palette(0), "B": _palette(1)}  # the report's first two colours
COMPARE_PAGE = "compare.html"  # beside the trend report's index.html
log = logging.getLogger(__name__)


def number(value: Any) -> str:
    """4 significant digits, '—' for missing (as the report's tables)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.4g}"


def side_text(side: dict[str, Any]) -> str:
    """The median with its CI and n: "1.62 [1.58, 1.66] n=6"; below the requested level the level
    reached is said, "20.8 [8.94, 33.7] n=3 (75 % CI)"; "1.62 (n=1)" has no CI."""
    if side["lower"] is None:
        return f"{number(side['median'])} (n={side['n']})"
    text = f"{number(side['median'])} [{number(side['lower'])}, {number(side['upper'])}] n={side['n']}"
    return text if side["level_reached"] else f"{text} ({100 * side['level']:.4g} % CI)"


def change_text(row: dict[str, Any]) -> str:
    """ "+12.3 % [+5.1, +20.0]" (log scale) or "+0.41 ms [+0.12, +0.70]" (differences)."""
    if row["change"] is None:
        return "—"
    if row["change_is_relative"]:
        value = f"{100 * row['change']:+.1f} %"
        ci = (
            f" [{100 * row['change_lower']:+.1f}, {100 * row['change_upper']:+.1f}]"
            if row["change_lower"] is not None
            else ""
        )
        return value + ci
    value = f"{row['change']:+.4g} {row['unit']}"
    ci = (
        f" [{row['change_lower']:+.4g}, {row['change_upper']:+.4g}]"
        if row["change_lower"] is not None
        else ""
    )
    return value + ci


def q_text(row: dict[str, Any]) -> str:
    return "—" if row["q_value"] is None else f"{row['q_value']:.3g}"


def verdict_text(row: dict[str, Any], same_run: bool) -> str:
    if same_run or row["verdict"] in ("not enough repetitions", "no test"):
        return row["verdict"]
    return row["verdict"] + ("" if row["between_sd"] is not None else " (repetitions only)")


# -- text --------------------------------------------------------------------------------------------


def render_text(comparison: RunComparison) -> str:
    header = [comparison.a.describe(), comparison.b.describe(), "", comparison.method, comparison.noise]
    if comparison.not_compared:
        header.append(f"Not compared (no value on a side): {', '.join(comparison.not_compared)}.")
    columns = [
        "mesh",
        "load point",
        "metric",
        "A median [CI]",
        "B median [CI]",
        "change B vs A [CI]",
        "q",
        "verdict",
    ]
    table = [
        [
            row["mesh"],
            row["load_point"],
            f"{row['label']} ({row['unit']})",
            side_text(row["a"]),
            side_text(row["b"]),
            change_text(row),
            q_text(row),
            verdict_text(row, comparison.same_run),
        ]
        for row in comparison.rows
    ]
    counts = ", ".join(f"{name}: {count}" for name, count in comparison.counts().items())
    return "\n".join([*header, "", *_aligned([columns, *table]), "", counts]) + "\n"


def _aligned(lines: Iterable[list[str]]) -> list[str]:
    rows = list(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


# -- HTML --------------------------------------------------------------------------------------------


def _chart(comparison: RunComparison, metric_name: str) -> Chart | None:
    rows = [r for r in comparison.rows if r["metric"] == metric_name]
    if not rows:
        return None
    first = rows[0]
    categories = [_text(f"{r['mesh']} · {r['load_point']}") for r in rows]
    traces = []
    for label, side in (("A", comparison.a), ("B", comparison.b)):
        key = label.lower()
        medians = [r[key]["median"] for r in rows]
        upper = [None if r[key]["upper"] is None else r[key]["upper"] - r[key]["median"] for r in rows]
        lower = [None if r[key]["lower"] is None else r[key]["median"] - r[key]["lower"] for r in rows]
        bars = trace(
            "bar",
            x=categories,
            y=numbers(medians),
            name=_text(f"{label}: {side.mesh + '@' if side.mesh else ''}{side.run_id}"),
            marker={"color": SIDE_COLORS[label]},
            hovertemplate="%{x}<br>median %{y:.4g}<extra>%{fullData.name}</extra>",
        )
        if any(u is not None for u in upper):  # one repetition a side has no interval
            bars["error_y"] = {
                "array": numbers(upper),
                "arrayminus": numbers(lower),
                "type": "data",
                "visible": True,
            }
        traces.append(bars)
    chart_id = f"chart-compare-{metric_name}"
    return chart(
        chart_id,
        f"{first['label']} ({first['unit']})",
        f"Median of the repetitions per side with its {comparison.level:.0%} CI (error bars; none for one "
        "repetition).",
        traces,
        {"barmode": "group", "yaxis": {"title": {"text": _text(f"{first['label']} ({first['unit']})")}}},
        height=380,
    )


def render_html(
    comparison: RunComparison, *, generated_at: str, generator_version: str, plotly_src: str | None = None
) -> str:
    """The comparison page; `plotly_src` links a stored plotly.js instead of inlining it."""
    charts = [c for c in (_chart(comparison, m.name) for m in METRICS) if c is not None]
    template = _ENV.get_template("compare.html.j2")
    return template.render(
        comparison=comparison,
        a=comparison.a,
        b=comparison.b,
        rows=comparison.rows,
        counts=comparison.counts(),
        charts=charts,
        colors=SIDE_COLORS,
        generated_at=generated_at,
        generator_version=generator_version,
        plotly_js=Markup(plotly_js()) if plotly_src is None else "",  # the library's bundle, not data
        plotly_src=plotly_src,
        chart_script=Markup(chart_script()),  # the charts' template and drawing function, no data
        side_text=side_text,
        change_text=change_text,
        q_text=q_text,
        verdict_text=verdict_text,
    )


def previous_run_page(
    store: DatasetStore, history: History, *, generated_at: str, version: str, plotly_src: str | None = None
) -> dict[str, str]:
    """{COMPARE_PAGE: html} comparing the report's newest run with the run before it; empty when
    there is no previous run or the two cannot be compared (no load point in common)."""
    if len(history.runs) < 2:
        return {}
    previous, newest = (str(r) for r in history.runs["run_id"].iloc[-2:])
    try:
        comparison = compare_runs(store, previous, newest)
    except MeshmarkError as exc:  # the report goes on without the page
        log.warning("no comparison page: %s", exc)
        return {}
    page = render_html(
        comparison, generated_at=generated_at, generator_version=version, plotly_src=plotly_src
    )
    return {COMPARE_PAGE: page}
