"""The newest run's numbers with their uncertainty: a table ("± x %") and a chart with error bars.

Reads the run's `meshmark_summary` rows (scoring/uncertainty.py: medians of the repetitions with
their 95 % CIs, overheads against the baseline paired within rounds with CI and p-value) and the
configuration rows of `meshmark_config`. A run stored before that table existed, or a run with one
repetition, has no intervals: the table then says "1 rep." and claims no difference. Under p50, p99
and data-plane CPU the table also shows the speed-adjusted median ("at steady speed", stats/adjusted.py)
where the run has one (8 or more repetitions with the app's CPU measured).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
from plotly.subplots import make_subplots

from meshmark_tasks import schemas
from meshmark_tasks.reporting.charts import Chart, _text, chart, numbers, subplot, trace
from meshmark_tasks.storage import DatasetStore

if TYPE_CHECKING:
    from meshmark_tasks.reporting.history import History

# (column prefix in meshmark_summary, label, unit) of the medians shown.
MEDIANS = [
    ("meshmark", "MeshMark", ""),
    ("latency_ms_p50", "p50", "ms"),
    ("latency_ms_p99", "p99", "ms"),
    ("cpu_cores_dataplane", "data-plane CPU", "cores"),
]
# (column prefix, label) of the paired overheads against the baseline, in %.
DELTAS = [("delta_p50", "Δ p50"), ("delta_p99", "Δ p99"), ("delta_cpu", "Δ CPU used")]


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _num(value: Any) -> float | None:
    return None if _missing(value) else float(value)


def load_point_label(row: Mapping[str, Any]) -> str:
    """`100 qps · 8 conn · 1024 B · http` (as the trend report's series names)."""
    qps = _num(row.get("requested_qps"))
    rate = "max" if qps is None else f"{qps:g}"
    return f"{rate} qps · {row['connections']} conn · {row['payload_bytes']} B · {row['protocol']}"


def plus_minus(median: Any, low: Any, high: Any, unit: str = "") -> str:
    """`1.23 ms ± 4.1 %`: the median and half its CI's width relative to it; `—` when unmeasured."""
    if _missing(median):
        return "—"
    text = f"{float(median):.4g}{' ' + unit if unit else ''}"
    if _missing(low) or _missing(high) or float(median) == 0:
        return text
    half = (float(high) - float(low)) / 2 / abs(float(median))
    return f"{text} ± {100 * half:.1f} %"


def adjusted_text(row: Mapping[str, Any], column: str, unit: str = "") -> str | None:
    """`at steady speed 1.21 ms ± 1.6 %`, or None when the run has no speed-adjusted median."""
    median = row.get(f"{column}_adjusted_median")
    if column not in schemas.SUMMARY_ADJUSTED_METRICS or _missing(median):
        return None
    text = plus_minus(
        median, row.get(f"{column}_adjusted_ci_low"), row.get(f"{column}_adjusted_ci_high"), unit
    )
    return f"at steady speed {text}"


def _p(value: float) -> str:
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def delta_text(row: Mapping[str, Any], name: str, unit: str = "%") -> str:
    """`+33.5 % [+28.7, +38.6], p < 0.001` or `+1.2 % (no test)`; `—` for the baseline."""
    suffix = "_pct" if unit == "%" else ""
    estimate = _num(row.get(f"{name}{suffix}"))
    if estimate is None:
        return "—"
    text = f"{estimate:+.1f}{' %' if unit == '%' else ' ' + unit}"
    p_value = _num(row.get(f"{name}_p_value"))
    low, high = _num(row.get(f"{name}{suffix}_ci_low")), _num(row.get(f"{name}{suffix}_ci_high"))
    if p_value is None:
        return f"{text} (no test)"
    interval = "" if low is None or high is None else f" [{low:+.1f}, {high:+.1f}]"
    return f"{text}{interval}, {_p(p_value)}"


def _significant(row: Mapping[str, Any], name: str) -> bool:
    value = row.get(f"{name}_significant")
    return not _missing(value) and bool(value)


def load_run_numbers(store: DatasetStore, run_id: str) -> pd.DataFrame:
    """The run's meshmark_summary rows (empty for a run stored without them)."""
    frame: pd.DataFrame = store.read("meshmark_summary", run_id=run_id).to_pandas()
    return frame.sort_values(
        ["protocol", "connections", "payload_bytes", "requested_qps", "is_baseline", "mesh"],
        ascending=[True, True, True, True, False, True],
        na_position="last",
    )


def run_number_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One display row per mesh and load point: text cells and which deltas are significant."""
    rows = []
    for record in frame.to_dict("records"):
        reps = record.get("repetitions_used")
        row: dict[str, Any] = {
            "mesh": record["mesh"],
            "load_point": load_point_label(record),
            "repetitions": "—" if _missing(reps) else int(reps),
            "ci_level": None if _missing(record.get("ci_level")) else float(record["ci_level"]),
            # (raw median ± CI, the speed-adjusted one or None) per shown metric.
            "medians": [
                (
                    plus_minus(
                        record.get(f"{c}_median"), record.get(f"{c}_ci_low"), record.get(f"{c}_ci_high"), unit
                    ),
                    adjusted_text(record, c, unit),
                )
                for c, _, unit in MEDIANS
            ],
            "deltas": [(delta_text(record, c), _significant(record, c)) for c, _ in DELTAS],
            "meshmark_delta": (
                delta_text(record, "meshmark_delta", "points"),
                _significant(record, "meshmark_delta"),
            ),
        }
        rows.append(row)
    return rows


def config_rows(configs: pd.DataFrame) -> list[dict[str, Any]]:
    """Per mesh: MeshMark mean ± CI and its difference from the baseline (meshmark_config)."""
    rows = []
    for record in configs.sort_values("mesh").to_dict("records"):
        rows.append(
            {
                "mesh": record["mesh"],
                "meshmark": plus_minus(
                    record.get("meshmark_mean"), record.get("meshmark_ci_low"), record.get("meshmark_ci_high")
                ),
                "rounds": "—"
                if _missing(record.get("repetitions_used"))
                else int(record["repetitions_used"]),
                "delta": delta_text(record, "meshmark_delta", "points"),
                "significant": _significant(record, "meshmark_delta"),
            }
        )
    return rows


def run_numbers_chart(frame: pd.DataFrame, colors: Mapping[str, str]) -> Chart | None:
    """Medians of the newest run per mesh and load point, each with its 95 % CI as an error bar."""
    if frame.empty:
        return None
    panels = [(c, label, unit) for c, label, unit in MEDIANS if frame[f"{c}_median"].notna().any()]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[_text(label) for _, label, _ in panels])
    labels = [load_point_label(r) for r in frame.to_dict("records")]
    frame = frame.assign(_label=labels)
    traces = []
    for index, (column, label, unit) in enumerate(panels, start=1):
        axes = subplot(fig, 1, index)
        for mesh, rows in frame.groupby("mesh", sort=True):
            median = rows[f"{column}_median"]
            upper = (rows[f"{column}_ci_high"] - median).fillna(0)
            lower = (median - rows[f"{column}_ci_low"]).fillna(0)
            traces.append(
                trace(
                    "scatter",
                    x=[_text(v) for v in rows["_label"]],
                    y=numbers(median),
                    mode="markers",
                    name=_text(mesh),
                    legendgroup=_text(mesh),
                    showlegend=index == 1,
                    marker={"color": colors.get(str(mesh)), "size": 9},
                    error_y={
                        "array": numbers(upper),
                        "arrayminus": numbers(lower),
                        "type": "data",
                        "visible": True,
                    },
                    hovertemplate=(
                        f"%{{x}}<br>{_text(label)} %{{y:.4g}} {_text(unit)}<extra>%{{fullData.name}}</extra>"
                    ),
                    **axes,
                )
            )
    fig.update_layout(scattermode="group")
    return chart(
        "chart-run-numbers",
        "This run: medians with 95 % confidence intervals",
        "Median of each mesh configuration's repetitions at each load point; the error bars are the "
        "order-statistic confidence interval of the median (none with a single repetition).",
        traces,
        fig,
        height=380,
    )


@dataclass(frozen=True)
class RunNumbers:
    """What the report's "This run" section shows."""

    configs: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    chart: Chart | None = None
    median_labels: tuple[str, ...] = tuple(label for _, label, _ in MEDIANS)
    delta_labels: tuple[str, ...] = tuple(label for _, label in DELTAS)


def run_numbers_section(store: DatasetStore, run_id: str, history: History) -> RunNumbers:
    from meshmark_tasks.reporting.charts import mesh_colors

    frame = load_run_numbers(store, run_id)
    if history.cells is not None and "mesh" in history.cells:
        meshes = set(history.cells["mesh"])  # the report's mesh filter
        frame = frame[frame["mesh"].isin(meshes)]
    configs = store.read("meshmark_config", run_id=run_id).to_pandas()
    configs = configs[configs["mesh"].isin(set(frame["mesh"]))] if not frame.empty else configs.iloc[0:0]
    return RunNumbers(
        configs=config_rows(configs),
        rows=run_number_rows(frame),
        chart=run_numbers_chart(frame, mesh_colors(history)),
    )
