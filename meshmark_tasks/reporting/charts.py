"""Plotly charts of the report, rendered as <div>s without plotly.js (the page embeds it once).

Plotly renders a subset of HTML inside trace names and hover text (<b>, <a href>, ...), so every
string that comes from a profile or a result is HTML-escaped before it reaches a figure: it is then
shown literally and can never become markup.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Iterator
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Chart:
    chart_id: str
    title: str
    description: str
    div: str  # plotly's own HTML; data inside is JSON with <, > and / escaped by plotly


def _text(value: object) -> str:
    return html.escape(str(value), quote=True)


# The kinds of trace the report draws, and the parts of a template's layout no 2-D chart of them reads
# (other kinds of subplot, colour scales).
TRACE_TYPES = ("scatter", "bar")
_UNUSED_LAYOUT = ("polar", "ternary", "scene", "geo", "mapbox", "map", "smith", "coloraxis", "colorscale")


@functools.cache
def report_template() -> go.layout.Template:
    """plotly_white with only what the report's charts use: every figure embeds its template, and
    the whole of plotly_white (defaults for 40 kinds of trace and subplot) is 6.5 KB a chart; this
    is 1 KB and draws the report's scatter and bar charts the same (tests/reporting/
    test_report_browser.py compares the drawn SVG)."""
    import plotly.io as pio

    white = pio.templates["plotly_white"].to_plotly_json()
    layout = {key: value for key, value in white["layout"].items() if key not in _UNUSED_LAYOUT}
    data = {kind: value for kind, value in white["data"].items() if kind in TRACE_TYPES}
    return go.layout.Template(layout=layout, data=data)


def _div(fig: go.Figure, chart_id: str, height: int = 420) -> str:
    unknown = {trace.type for trace in fig.data} - set(TRACE_TYPES)
    if unknown:  # it would be drawn without plotly_white's defaults for its kind
        raise ValueError(f"{chart_id}: add {', '.join(sorted(unknown))} to charts.TRACE_TYPES")
    fig.update_layout(template=report_template(), margin={"l": 60, "r": 20, "t": 40, "b": 50}, height=height)
    div: str = fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=chart_id, config=_PLOT_CONFIG, default_width="100%"
    )
    return div


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
) -> Iterator[go.Scatter]:
    """One line per mesh of `column` against run date (`data` from _per_mesh_over_time).

    `run_ids_as_text` gives each point its run id as text, for `%{text}` in the hovertemplate;
    `legend_per_mesh` puts each mesh's lines in one legend group (for charts with several panels).
    """
    for mesh, rows in data.groupby("mesh", sort=True):
        yield go.Scatter(
            x=rows["run_date"].astype(str),
            y=rows[column],
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
) -> go.Figure:
    """One line per mesh, in its colour: `column` averaged over load points, against run date."""
    cells = complete_nights(history.cells) if column == "meshmark" else history.cells
    data = _per_mesh_over_time(cells, column, meshes_only=meshes_only)
    fig = go.Figure()
    for trace in _mesh_lines(
        data, column, mesh_colors(history), hovertemplate=hovertemplate, run_ids_as_text=run_ids_as_text
    ):
        fig.add_trace(trace)
    fig.update_layout(xaxis_title="run date", yaxis_title=yaxis_title)
    _run_date_axes(fig, history.cells)
    return fig


def meshmark_over_time(history: History) -> Chart:
    fig = _per_mesh_lines_over_time(
        history,
        "meshmark",
        yaxis_title="MeshMark (mean over load points)",
        hovertemplate="%{x}<br>MeshMark %{y:.2f}<br>run %{text}<extra>%{fullData.name}</extra>",
        run_ids_as_text=True,
    )
    return Chart(
        "chart-meshmark",
        "MeshMark per mesh over time",
        "Mean MeshMark of each mesh configuration's cells per run (equal weight per load point).",
        _div(fig, "chart-meshmark"),
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
    fig = go.Figure()
    for (mesh, shape), rows in newest.groupby(["mesh", "shape"], sort=True):
        name = _group_name(str(mesh), str(shape), many_shapes)
        for column, label, dash in PERCENTILES:
            if rows[column].isna().all():
                continue
            fig.add_trace(
                go.Scatter(
                    x=rows["qps"],
                    y=rows[column],
                    mode="lines+markers",
                    name=_text(f"{name} {label}"),
                    legendgroup=_text(name),
                    line={"dash": dash, "color": colors.get(str(mesh))},
                    hovertemplate="%{x:.0f} QPS<br>%{y:.3f} ms<extra>%{fullData.name}</extra>",
                )
            )
    fig.update_layout(xaxis_title="achieved QPS", yaxis_title="latency (ms)")
    return Chart(
        "chart-latency",
        "Latency percentiles against QPS (newest run)",
        "p50 (dotted), p90 (dashed) and p99 (solid) per mesh configuration at each load point.",
        _div(fig, "chart-latency"),
    )


def mue_against_qps(history: History) -> Chart:
    """One trace per mesh and MUE; a dropdown picks which MUE is shown."""
    newest = _newest_cells(history)
    many_shapes = newest["shape"].nunique() > 1
    groups = list(newest.groupby(["mesh", "shape"], sort=True))
    choices = [c for c in MUE_CHOICES if c in newest.columns]
    colors = mesh_colors(history)
    fig = go.Figure()
    for choice_index, column in enumerate(choices):
        for (mesh, shape), rows in groups:
            fig.add_trace(
                go.Scatter(
                    x=rows["qps"],
                    y=rows[column],
                    mode="lines+markers",
                    name=_text(_group_name(str(mesh), str(shape), many_shapes)),
                    line={"color": colors.get(str(mesh))},
                    visible=choice_index == 0,
                    hovertemplate="%{x:.0f} QPS<br>%{y:.3f}<extra>%{fullData.name}</extra>",
                )
            )
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
    fig.update_layout(
        xaxis_title="achieved QPS",
        yaxis_title=choices[0] if choices else "",
        updatemenus=[{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right", "y": 1.15}],
    )
    return Chart(
        "chart-mue",
        "MUE against QPS (newest run)",
        "MeshMark and each Mesh Utilization Efficiency (0–1, 1 is best) per load point; "
        "pick one in the menu.",
        _div(fig, "chart-mue"),
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
    for panel, (column, _label) in enumerate(OVERHEAD_PANELS):
        data = _per_mesh_over_time(history.cells, column, meshes_only=True)
        for trace in _mesh_lines(
            data,
            column,
            colors,
            hovertemplate="%{x}<br>%{y:.4g}<extra>%{fullData.name}</extra>",
            legend_per_mesh=True,
            showlegend=panel == 0,
        ):
            fig.add_trace(trace, row=panel // 2 + 1, col=panel % 2 + 1)
    _run_date_axes(fig, history.cells)
    return Chart(
        "chart-overhead",
        "Overhead against the baseline over time",
        "What each mesh adds over the no-mesh baseline at the same load point in the same run "
        "(mean over load points).",
        _div(fig, "chart-overhead", height=560),
    )


def cost_over_time(history: History) -> Chart:
    fig = _per_mesh_lines_over_time(
        history,
        "mesh_cost_per_million_requests",
        yaxis_title="mesh cost per million requests",
        hovertemplate="%{x}<br>%{y:.6f} per 1M requests<extra>%{fullData.name}</extra>",
        meshes_only=True,
    )
    return Chart(
        "chart-cost",
        "Mesh cost per million requests over time",
        "Data-plane plus control-plane CPU and memory at the stated prices, per million requests "
        "(mean over load points).",
        _div(fig, "chart-cost"),
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
