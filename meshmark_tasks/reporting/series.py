"""The series of the trend report: which metrics, on which scale, and their per-repetition values.

A series is one metric of one mesh configuration at one load point, plus MeshMark per mesh
configuration (`meshmark_mean`) and the paired p50/p99 ratios to the baseline; `metric_values`
gives one metric's values, one row per repetition, from History.repetitions (trends.py runs the
change-point detector on them, change_charts.py plots them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from meshmark_tasks.reporting.history import complete_nights

LOAD_POINT_COLUMNS = ["requested_qps", "connections", "payload_bytes", "protocol", "is_baseline"]
ALL_LOAD_POINTS = "all load points"


@dataclass(frozen=True)
class Metric:
    column: str
    label: str
    unit: str
    higher_is_better: bool
    resolution: float  # linear scale: the smallest absolute change reported (measurement noise below)
    scale: Literal["log", "linear"] = "log"
    mesh_only: bool = False  # the baseline's value is 0 by definition: leave it out
    # Moves with the machine's speed (time and CPU per request): a newest-night flag goes through
    # the drift check (trends.py) against the speed index of `speed_index_values`.
    speed_bound: bool = False


METRICS: tuple[Metric, ...] = (
    Metric("meshmark", "MeshMark", "points", True, 1.0, "linear"),
    Metric("meshmark_mean", "MeshMark (mean over load points)", "points", True, 1.0, "linear"),
    Metric("latency_ms_p50", "p50 latency", "ms", False, 0.01, speed_bound=True),
    Metric("latency_ms_p99", "p99 latency", "ms", False, 0.01, speed_bound=True),
    Metric("cpu_cores_dataplane", "data-plane CPU", "cores", False, 0.001, mesh_only=True, speed_bound=True),
    # The data plane's CPU per unit of the app's CPU in the same cell: the machine's speed drift
    # between nights moves both alike, so a data-plane change shows here when raw CPU drifts too.
    Metric("dataplane_cpu_per_app_cpu", "data-plane ÷ app CPU", "ratio", False, 0.0, mesh_only=True),
    Metric("cpu_cores_used", "CPU used", "cores", False, 0.001, speed_bound=True),
    Metric("mem_mib_used", "memory used", "MiB", False, 1.0),
    Metric("delta_p50_ms", "p50 overhead vs baseline", "ms", False, 0.01, "linear", True, speed_bound=True),
    Metric("delta_p99_ms", "p99 overhead vs baseline", "ms", False, 0.01, "linear", True, speed_bound=True),
    Metric(
        "delta_cpu_cores_per_kqps",
        "CPU overhead vs baseline",
        "cores per 1k QPS",
        False,
        0.001,
        "linear",
        True,
        speed_bound=True,
    ),
    Metric("delta_mem_mib", "memory overhead vs baseline", "MiB", False, 1.0, "linear", True),
    # Not speed-bound: its memory part does not move with the machine's speed.
    Metric("mesh_cost_per_million_requests", "mesh cost", "per 1M requests", False, 1e-6, "linear", True),
    # Paired overheads: mesh ÷ baseline of the same load point, night and round (repetition index
    # where no round is recorded), measured back to back, so drift shared by both cancels.
    Metric("p50_ratio_vs_baseline", "p50 ÷ baseline (paired)", "ratio", False, 0.0, mesh_only=True),
    Metric("p99_ratio_vs_baseline", "p99 ÷ baseline (paired)", "ratio", False, 0.0, mesh_only=True),
)
PAIRED_RATIOS = {"p50_ratio_vs_baseline": "latency_ms_p50", "p99_ratio_vs_baseline": "latency_ms_p99"}
METRICS_BY_COLUMN = {m.column: m for m in METRICS}


def metric_values(reps: pd.DataFrame, metric: Metric) -> pd.DataFrame:
    """mesh, load_point, run_seq, value and the load point columns of one metric's repetitions."""
    keep = ["mesh", "load_point", "run_seq", *LOAD_POINT_COLUMNS]
    if metric.column == "meshmark_mean":
        if "meshmark" not in reps.columns:
            return pd.DataFrame()
        # MeshMark of a mesh configuration: its load points' MeshMark averaged per repetition
        # (equal weight per load point, as MESHMARK.md's aggregate).
        # Only nights with the mesh's usual load points: a partial night's mean is not comparable.
        frame = (
            complete_nights(reps.dropna(subset=["meshmark"]))
            .groupby(["mesh", "run_seq", "repetition"], as_index=False)
            .agg(value=("meshmark", "mean"), is_baseline=("is_baseline", "first"))
        )
        frame["load_point"] = ALL_LOAD_POINTS
        for column in ("requested_qps", "connections", "payload_bytes", "protocol"):
            frame[column] = None
    elif metric.column in PAIRED_RATIOS:
        frame = _paired_ratios(reps, PAIRED_RATIOS[metric.column], keep)
    else:
        if metric.column not in reps.columns:
            return pd.DataFrame()
        frame = reps[[*keep, metric.column]].rename(columns={metric.column: "value"})
        frame = frame.dropna(subset=["value"])
    if metric.mesh_only:
        frame = frame[~frame["is_baseline"].fillna(False).astype(bool)]
    return frame.reset_index(drop=True)


def _paired_ratios(reps: pd.DataFrame, column: str, keep: list[str]) -> pd.DataFrame:
    """Each mesh repetition's `column` ÷ the baseline's in the same night, load point and round."""
    if column not in reps.columns:
        return pd.DataFrame()
    pair = "round" if "round" in reps.columns and reps["round"].notna().any() else "repetition"
    on = ["run_seq", "load_point", pair]
    baseline = reps["is_baseline"].fillna(False).astype(bool)
    reference = reps[baseline & (reps[column] > 0)].groupby(on, as_index=False)[column].mean()
    frame = reps.loc[~baseline, [*keep, pair, column]].merge(
        reference.rename(columns={column: "_baseline"}), on=on, how="inner"
    )
    frame["value"] = frame[column] / frame["_baseline"]
    return frame[[*keep, "value"]].dropna(subset=["value"])


def speed_index_values(reps: pd.DataFrame) -> pd.DataFrame:
    """load_point, run_seq and value = the baseline's app CPU seconds per request, per repetition.

    The app does the same work per request whatever the mesh, and the baseline has no mesh at all:
    how much CPU it took per request that night is how fast the machine ran (the drift check's
    speed index, `meshmark_tasks.stats.speed_index`). Empty when there is no baseline or no app CPU.
    """
    if not {"cpu_cores_app", "actual_qps", "is_baseline"} <= set(reps.columns):
        return pd.DataFrame(columns=["load_point", "run_seq", "value"])
    baseline = reps[reps["is_baseline"].fillna(False).astype(bool)]
    app = pd.to_numeric(baseline["cpu_cores_app"], errors="coerce")
    qps = pd.to_numeric(baseline["actual_qps"], errors="coerce")
    frame = baseline[["load_point", "run_seq"]].assign(value=app / qps.where(qps > 0))
    return frame.dropna(subset=["value"]).reset_index(drop=True)
