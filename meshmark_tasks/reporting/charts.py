"""Plotly charts of the report: each a <div> and a call that draws it, without plotly.js (the page
embeds or links it once) and without the template (the page defines it once: `chart_script`).

A chart's traces are plain dicts as plotly.js takes them, not plotly.py trace objects: plotly.py's
validation of every trace took seconds in a long window's report, and what it checks is checked
once in the tests instead (tests/reporting/test_charts.py validates every chart's figure with
plotly.py). Layouts are still built with plotly.py (make_subplots places the panels), once per
chart. Numbers are rounded to 6 significant digits (`numbers`), as many as a hover shows.

Plotly renders a subset of HTML inside trace names and hover text (<b>, <a href>, ...), so every
string that comes from a profile or a result is HTML-escaped before it reaches a figure: it is then
shown literally and can never become markup.
"""

from __future__ import annotations

import functools
import html
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from meshmark_tasks.reporting.history import MESHMARK_VALUES, History, complete_nights

MUE_CHOICES = ["meshmark"] + [c for c in MESHMARK_VALUES if c.startswith("mue_")]
PERCENTILES = [
    ("latency_ms_p50", "p50", "dot"),
    ("latency_ms_p90", "p90", "dash"),
    ("latency_ms_p99", "p99", "solid"),
]
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}
MARGIN = {"l": 60, "r": 20, "t": 40, "b": 50}
Trace = dict[str, Any]


def _script_json(value: Any) -> str:
    """JSON that can sit inside a <script> element: no "</script>" or "<!--" can occur in it."""
    text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


@dataclass(frozen=True)
class Chart:
    chart_id: str
    title: str
    description: str
    figure: dict[str, Any]  # {"data": [traces], "layout": {...}} as plotly.js takes them, no template

    @property
    def div(self) -> str:
        """The chart's <div> and the call that draws it (needs `chart_script` earlier in the page)."""
        height = self.figure["layout"]["height"]
        return (
            f'<div id="{html.escape(self.chart_id)}" class="plotly-graph-div" '
            f'style="height:{height}px; width:100%;"></div>\n'
            f"<script>meshmarkPlot({_script_json(self.chart_id)}, {_script_json(self.figure)});</script>"
        )


def _text(value: object) -> str:
    return html.escape(str(value), quote=True)


def numbers(values: Iterable[Any]) -> list[float | None]:
    """Numbers for a chart's JSON, None for missing: 6 significant digits, as many as a hover shows
    (4 significant digits, or 3 decimals of a latency under a second in ms)."""
    out: list[float | None] = []
    for value in values:
        number = None if value is None or value is pd.NA else float(value)
        out.append(float(f"{number:.6g}") if number is not None and math.isfinite(number) else None)
    return out


def trace(kind: str, **props: Any) -> Trace:
    """A plotly.js trace of `kind` (one of TRACE_TYPES) with the properties that are set."""
    return {"type": kind, **{key: value for key, value in props.items() if value is not None}}


def subplot(fig: go.Figure, row: int, col: int) -> dict[str, str]:
    """The axis references of a make_subplots panel ({"xaxis": "x2", "yaxis": "y2"}) for a trace."""
    axes = fig.get_subplot(row, col)
    return {
        "xaxis": axes.xaxis.plotly_name.replace("axis", ""),
        "yaxis": axes.yaxis.plotly_name.replace("axis", ""),
    }


# The kinds of trace the report draws, and the parts of a template's layout no 2-D chart of them reads
# (other kinds of subplot, colour scales).
TRACE_TYPES = ("scatter", "bar")
_UNUSED_LAYOUT = ("polar", "ternary", "scene", "geo", "mapbox", "map", "smith", "coloraxis", "colorscale")


@functools.cache
def report_template() -> dict[str, Any]:
    """plotly_white with only what the report's charts use: the whole of plotly_white (defaults for
    40 kinds of trace and subplot) is 6.5 KB, this is 1 KB and draws the report's scatter and bar
    charts the same (tests/reporting/test_report_browser.py compares the drawn SVG)."""
    import plotly.io as pio

    white = pio.templates["plotly_white"].to_plotly_json()
    layout = {key: value for key, value in white["layout"].items() if key not in _UNUSED_LAYOUT}
    data = {kind: value for kind, value in white["data"].items() if kind in TRACE_TYPES}
    return {"data": data, "layout": layout}


def chart_script() -> str:
    """The page's one script before its charts: the report template, once for all charts of the
    page (each chart embedding its own copy was 1.2 KB a chart), and `meshmarkPlot`, which draws a
    chart's figure with it. Each chart gets a copy of the template, as plotly.js keeps it in the
    chart's layout."""
    return (
        f"const meshmarkTemplate = {_script_json(report_template())};\n"
        "function meshmarkPlot(id, figure) {\n"
        "  figure.layout.template = structuredClone(meshmarkTemplate);\n"
        f"  Plotly.newPlot(id, figure.data, figure.layout, {_script_json(_PLOT_CONFIG)});\n"
        "}"
    )


def chart(
    chart_id: str,
    title: str,
    description: str,
    traces: Iterable[Trace],
    layout: go.Figure | Mapping[str, Any] | None = None,
    *,
    height: int = 420,
) -> Chart:
    """A Chart of plain traces; `layout` a plotly.py figure (its layout is used: make_subplots'
    panels, update_layout's titles) or a layout dict."""
    data = list(traces)
    unknown = {t["type"] for t in data} - set(TRACE_TYPES)
    if unknown:  # it would be drawn without plotly_white's defaults for its kind
        raise ValueError(f"{chart_id}: add {', '.join(sorted(unknown))} to charts.TRACE_TYPES")
    if isinstance(layout, go.Figure):
        layout_dict = layout.layout.to_plotly_json()
        layout_dict.pop("template", None)  # the page's (chart_script), not plotly.py's default
    else:
        layout_dict = dict(layout or {})
    layout_dict.update(margin=MARGIN, height=height)
    return Chart(chart_id, title, description, {"data": data, "layout": layout_dict})


_DAY_MS = 86_400_000
# Below this many days between the first and the last run, ticks are placed one per day by hand:
# plotly's automatic ticks on a date axis this short are times of day, and with a single run it
# zooms to a millisecond around it ("23:59:59.999 ... 00:00:00.001").
_DAILY_TICKS_UP_TO_DAYS = 14


def _run_date_axes(fig: go.Figure, cells: pd.DataFrame) -> None:
    """Every x axis of a figure against run date: dates as dates, readable with one run or a few."""
    dates = pd.to_datetime(cells["run_date"].dropna().astype(str)).drop_duplicates()
    fig.update_xaxes(type="date", tickformat="%Y-%m-%d", hoverformat="%Y-%m-%d")
    if dates.empty:
        return
    first, last = dates.min(), dates.max()
    if (last - first).days <= _DAILY_TICKS_UP_TO_DAYS:
        # Half a day of margin each side keeps the first and last points off the frame.
        margin = pd.Timedelta(hours=12)
        fig.update_xaxes(
            range=[(first - margin).isoformat(), (last + margin).isoformat()],
            tick0=first.isoformat(),
            dtick=_DAY_MS * max(1, -(-(last - first).days // 7)),  # at most ~8 labels
        )


def _per_mesh_over_time(cells: pd.DataFrame, column: str, *, meshes_only: bool = False) -> pd.DataFrame:
    frame = cells[~cells["is_baseline"].fillna(False).astype(bool)] if meshes_only else cells
    frame = frame.dropna(subset=[column])
    return (
        frame.groupby(["run_seq", "run_id", "run_date", "mesh"], as_index=False)[column]
        .mean()
        .sort_values(["mesh", "run_seq"])
    )


def _mesh_lines(
    data: pd.DataFrame,
    column: str,
    colors: dict[str, str],
    *,
    hovertemplate: str,
    run_ids_as_text: bool = False,
    legend_per_mesh: bool = False,
    showlegend: bool | None = None,
) -> Iterator[Trace]:
    """One line per mesh of `column` against run date (`data` from _per_mesh_over_time).

    `run_ids_as_text` gives each point its run id as text, for `%{text}` in the hovertemplate;
    `legend_per_mesh` puts each mesh's lines in one legend group (for charts with several panels).
    """
    for mesh, rows in data.groupby("mesh", sort=True):
        yield trace(
            "scatter",
            x=rows["run_date"].astype(str).tolist(),
            y=numbers(rows[column]),
            mode="lines+markers",
            name=_text(mesh),
            legendgroup=_text(mesh) if legend_per_mesh else None,
            showlegend=showlegend,
            line={"color": colors.get(str(mesh))},
            text=[_text(r) for r in rows["run_id"]] if run_ids_as_text else None,
            hovertemplate=hovertemplate,
        )


def _per_mesh_lines_over_time(
    history: History,
    column: str,
    *,
    yaxis_title: str,
    hovertemplate: str,
    meshes_only: bool = False,
    run_ids_as_text: bool = False,
) -> tuple[list[Trace], go.Figure]:
    """One line per mesh, in its colour: `column` averaged over load points, against run date."""
    cells = complete_nights(history.cells) if column == "meshmark" else history.cells
    data = _per_mesh_over_time(cells, column, meshes_only=meshes_only)
    traces = list(
        _mesh_lines(
            data, column, mesh_colors(history), hovertemplate=hovertemplate, run_ids_as_text=run_ids_as_text
        )
    )
    fig = go.Figure()
    fig.update_layout(xaxis_title="run date", yaxis_title=yaxis_title)
    _run_date_axes(fig, history.cells)
    return traces, fig


def meshmark_over_time(history: History) -> Chart:
    traces, layout = _per_mesh_lines_over_time(
        history,
        "meshmark",
        yaxis_title="MeshMark (mean over load points)",
        hovertemplate="%{x}<br>MeshMark %{y:.2f}<br>run %{text}<extra>%{fullData.name}</extra>",
        run_ids_as_text=True,
    )
    return chart(
        "chart-meshmark",
        "MeshMark per mesh over time",
        "Mean MeshMark of each mesh configuration's cells per run (equal weight per load point).",
        traces,
        layout,
    )


def _newest_cells(history: History) -> pd.DataFrame:
    cells = history.cells
    newest = cells[cells["run_id"] == history.newest_run_id].copy()
    newest["qps"] = newest["actual_qps"].fillna(newest["requested_qps"])
    newest["shape"] = (
        newest["connections"].astype(str)
        + " conn · "
        + newest["payload_bytes"].astype(str)
        + " B · "
        + newest["protocol"].astype(str)
    )
    return newest.sort_values(["mesh", "shape", "qps"])


def _group_name(mesh: str, shape: str, many_shapes: bool) -> str:
    return f"{mesh} ({shape})" if many_shapes else mesh


def latency_against_qps(history: History) -> Chart:
    newest = _newest_cells(history)
    many_shapes = newest["shape"].nunique() > 1
    colors = mesh_colors(history)
    traces = []
    for (mesh, shape), rows in newest.groupby(["mesh", "shape"], sort=True):
        name = _group_name(str(mesh), str(shape), many_shapes)
        for column, label, dash in PERCENTILES:
            if rows[column].isna().all():
                continue
            traces.append(
                trace(
                    "scatter",
                    x=numbers(rows["qps"]),
                    y=numbers(rows[column]),
                    mode="lines+markers",
                    name=_text(f"{name} {label}"),
                    legendgroup=_text(name),
                    line={"dash": dash, "color": colors.get(str(mesh))},
                    hovertemplate="%{x:.0f} QPS<br>%{y:.3f} ms<extra>%{fullData.name}</extra>",
                )
            )
    return chart(
        "chart-latency",
        "Latency percentiles against QPS (newest run)",
        "p50 (dotted), p90 (dashed) and p99 (solid) per mesh configuration at each load point.",
        traces,
        {"xaxis": {"title": {"text": "achieved QPS"}}, "yaxis": {"title": {"text": "latency (ms)"}}},
    )


def mue_against_qps(history: History) -> Chart:
    """One trace per mesh and MUE; a dropdown picks which MUE is shown."""
    newest = _newest_cells(history)
    many_shapes = newest["shape"].nunique() > 1
    groups = list(newest.groupby(["mesh", "shape"], sort=True))
    choices = [c for c in MUE_CHOICES if c in newest.columns]
    colors = mesh_colors(history)
    traces = [
        trace(
            "scatter",
            x=numbers(rows["qps"]),
            y=numbers(rows[column]),
            mode="lines+markers",
            name=_text(_group_name(str(mesh), str(shape), many_shapes)),
            line={"color": colors.get(str(mesh))},
            visible=choice_index == 0,
            hovertemplate="%{x:.0f} QPS<br>%{y:.3f}<extra>%{fullData.name}</extra>",
        )
        for choice_index, column in enumerate(choices)
        for (mesh, shape), rows in groups
    ]
    buttons = []
    for choice_index, column in enumerate(choices):
        visible = [i // max(len(groups), 1) == choice_index for i in range(len(choices) * len(groups))]
        buttons.append(
            {
                "label": column,
                "method": "update",
                "args": [{"visible": visible}, {"yaxis.title.text": column}],
            }
        )
    layout = {
        "xaxis": {"title": {"text": "achieved QPS"}},
        "yaxis": {"title": {"text": choices[0] if choices else ""}},
        "updatemenus": [{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right", "y": 1.15}],
    }
    return chart(
        "chart-mue",
        "MUE against QPS (newest run)",
        "MeshMark and each Mesh Utilization Efficiency (0–1, 1 is best) per load point; "
        "pick one in the menu.",
        traces,
        layout,
    )


OVERHEAD_PANELS = [
    ("delta_p99_ms", "Δ p99 (ms)"),
    ("delta_p50_ms", "Δ p50 (ms)"),
    ("delta_cpu_cores_per_kqps", "Δ CPU (cores per 1k QPS)"),
    ("delta_mem_mib", "Δ memory (MiB)"),
]


def overhead_over_time(history: History) -> Chart:
    fig = make_subplots(
        rows=2, cols=2, subplot_titles=[label for _, label in OVERHEAD_PANELS], shared_xaxes=True
    )
    colors = mesh_colors(history)  # the same colour per mesh as in every other chart
    traces = []
    for panel, (column, _label) in enumerate(OVERHEAD_PANELS):
        data = _per_mesh_over_time(history.cells, column, meshes_only=True)
        axes = subplot(fig, panel // 2 + 1, panel % 2 + 1)
        for line in _mesh_lines(
            data,
            column,
            colors,
            hovertemplate="%{x}<br>%{y:.4g}<extra>%{fullData.name}</extra>",
            legend_per_mesh=True,
            showlegend=panel == 0,
        ):
            traces.append({**line, **axes})
    _run_date_axes(fig, history.cells)
    return chart(
        "chart-overhead",
        "Overhead against the baseline over time",
        "What each mesh adds over the no-mesh baseline at the same load point in the same run "
        "(mean over load points).",
        traces,
        fig,
        height=560,
    )


def cost_over_time(history: History) -> Chart:
    traces, layout = _per_mesh_lines_over_time(
        history,
        "mesh_cost_per_million_requests",
        yaxis_title="mesh cost per million requests",
        hovertemplate="%{x}<br>%{y:.6f} per 1M requests<extra>%{fullData.name}</extra>",
        meshes_only=True,
    )
    return chart(
        "chart-cost",
        "Mesh cost per million requests over time",
        "Data-plane plus control-plane CPU and memory at the stated prices, per million requests "
        "(mean over load points).",
        traces,
        layout,
    )


_COLORS = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880"]


def _palette(index: int) -> str:
    return _COLORS[index % len(_COLORS)]


def mesh_colors(history: History) -> dict[str, str]:
    """One colour per mesh, the same in every chart."""
    return {str(m): _palette(i) for i, m in enumerate(sorted(history.cells["mesh"].unique()))}


def all_charts(history: History) -> list[Chart]:
    return [
        meshmark_over_time(history),
        latency_against_qps(history),
        mue_against_qps(history),
        overhead_over_time(history),
        cost_over_time(history),
    ]


def plotly_asset_name() -> str:
    """File name of the plotly.js bundle as a shared report asset (its version in the name, so a
    report keeps the bundle it was drawn with after an upgrade)."""
    import plotly

    return f"plotly-{plotly.__version__}.min.js"


def plotly_js() -> str:
    """The plotly.js bundle shipped with the Python package (inlined, or stored once as an asset)."""
    from plotly.offline import get_plotlyjs

    source: str = get_plotlyjs()
    return source
