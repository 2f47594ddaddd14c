"""The "flagged changes" chart: each flagged series' nights with the levels before and after its
change point and a marker on the change's first night, so a reader sees the step the numbers in
the tables describe (not a mean over load points, where one series' step is diluted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from plotly.subplots import make_subplots

from meshmark_tasks.reporting.charts import Chart, Trace, _text, chart, numbers, subplot, trace
from meshmark_tasks.reporting.history import History
from meshmark_tasks.reporting.series import METRICS_BY_COLUMN, metric_values

MAX_PANELS = 8  # the tables list every change; the chart shows the first ones (regressions first)
CHART_ID = "chart-changes"


def _night_values(history: History, change: Mapping[str, Any]) -> pd.DataFrame:
    """run_seq, run_date, value (median of the night's repetitions) of one series."""
    metric = METRICS_BY_COLUMN.get(str(change["metric"]))
    if metric is None:
        return pd.DataFrame(columns=["run_seq", "run_date", "value"])
    values = metric_values(history.repetitions[history.repetitions["mesh"] == change["mesh"]], metric)
    if values.empty:
        return pd.DataFrame(columns=["run_seq", "run_date", "value"])
    values = values[values["load_point"] == change["load_point"]]
    nights = values.groupby("run_seq", as_index=False)["value"].median()
    dates = history.runs[["run_seq", "run_date"]]
    return nights.merge(dates, on="run_seq").sort_values("run_seq")


def _p(value: Any) -> str:
    return f"{value:.2g}" if isinstance(value, int | float) else "—"


def _title(change: Mapping[str, Any]) -> str:
    magnitude = change.get("magnitude")
    size = f" {magnitude * 100:+.1f} %" if isinstance(magnitude, int | float) else ""
    return _text(f"{change['mesh']} · {change['load_point']} · {change['label']}{size}")


def changes_chart(history: History, changes: Sequence[Mapping[str, Any]]) -> Chart | None:
    """One panel per change (at most MAX_PANELS); None when there is no change to show."""
    shown = [c for c in changes if c.get("first_night")][:MAX_PANELS]
    if not shown:
        return None
    rows = -(-len(shown) // 2)
    fig = make_subplots(rows=rows, cols=2, subplot_titles=[_title(c) for c in shown], vertical_spacing=0.12)
    traces: list[Trace] = []
    for i, change in enumerate(shown):
        axes = subplot(fig, i // 2 + 1, i % 2 + 1)
        nights = _night_values(history, change)
        first = int(change["first_night"]["run_seq"])
        traces.append(
            trace(
                "scatter",
                x=nights["run_date"].astype(str).tolist(),
                y=numbers(nights["value"]),
                mode="lines+markers",
                line={"color": "#57606a"},
                showlegend=False,
                hovertemplate="%{x}<br>%{y:.4g} (median of the night)<extra></extra>",
                **axes,
            )
        )
        before = nights[nights["run_seq"] < first]
        after = nights[nights["run_seq"] >= first]
        for part, level, color in (
            (before.tail(int(change.get("nights_before") or len(before))), change["level_before"], "#0969da"),
            (after.head(int(change.get("nights_after") or len(after))), change["level_after"], "#cf222e"),
        ):
            if level is None or part.empty:
                continue
            traces.append(
                trace(
                    "scatter",
                    x=part["run_date"].astype(str).tolist(),
                    y=numbers([level] * len(part)),
                    mode="lines",
                    line={"color": color, "dash": "dash"},
                    showlegend=False,
                    hovertemplate=f"level {level:.4g}<extra></extra>",
                    **axes,
                )
            )
        if not after.empty:
            traces.append(
                trace(
                    "scatter",
                    x=[str(after["run_date"].iloc[0])],
                    y=numbers([after["value"].iloc[0]]),
                    mode="markers",
                    marker={"symbol": "triangle-up", "size": 13, "color": "#cf222e"},
                    showlegend=False,
                    hovertemplate=_text(f"first night, p = {_p(change.get('p_value'))}") + "<extra></extra>",
                    **axes,
                )
            )
    fig.update_xaxes(type="date", tickformat="%Y-%m-%d")
    return chart(
        CHART_ID,
        "Flagged changes",
        "Each changed series per night (median of its repetitions), the levels before and after the "
        "change point (dashed) and its first night (triangle). Regressions first, then improvements, "
        "then recent changes on earlier nights.",
        traces,
        fig,
        height=max(320, 280 * rows),
    )
