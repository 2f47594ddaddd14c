"""Regression detection: the newest run of each series against a robust rolling baseline.

A *series* is one metric of one mesh configuration at one load point, with one value per run
(the median over the run's repetitions). The newest run's value `x` is compared with the series'
earlier values in the report window:

    m         = median of the previous `history_runs` values (default 7: a week of nightly runs)
    MAD       = median absolute deviation of the previous `spread_runs` values (default 28)
    threshold = max(k × 1.4826 × MAD, min_effect × |m|, resolution[metric])   (k = 4, min_effect 10 %)
    regression            x is worse than m by more than threshold
    improvement           x is better than m by more than threshold
    stable                otherwise
    insufficient_history  fewer than `min_history` (5) previous values

Why this rule:
- median and MAD ignore a few bad nights in the baseline, which a mean and standard deviation
  would not (one spike would widen the band and hide the next real regression);
- the level comes from the last week so the baseline follows accepted changes quickly, while the
  noise comes from four weeks because a MAD of 7 values is itself very noisy: simulated with
  normal noise, "x − m > 3 × 1.4826 × MAD(7 values)" fires on 4.7 % of perfectly stable series;
  with the spread of 28 values and k = 4 that drops to 0.16 % (k = 3: 0.9 %). A nightly run has
  hundreds of series, so the per-series false-alarm rate has to be that low;
- 1.4826 × MAD estimates the standard deviation of normal noise, so k is in "sigmas";
- `min_effect` stops very quiet series from flagging changes too small to matter (with almost
  equal values the MAD is close to zero and any wiggle would exceed k × MAD);
- `resolution` is the smallest change the measurement resolves at all, which matters where the
  median is near zero (overhead deltas, the baseline's zero mesh cost);
- fewer than 5 previous values give no usable MAD, so such series are reported as
  insufficient_history, never as stable.
Which direction is worse depends on the metric: lower MeshMark, higher everything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from meshmark_tasks.reporting.history import SERIES_KEYS, History

Classification = Literal["regression", "improvement", "stable", "insufficient_history"]
CLASSIFICATIONS: tuple[Classification, ...] = ("regression", "improvement", "stable", "insufficient_history")

MAD_TO_SIGMA = 1.4826  # consistency constant: 1.4826 × MAD estimates σ of normal noise


@dataclass(frozen=True)
class Metric:
    column: str
    label: str
    unit: str
    higher_is_better: bool
    resolution: float  # changes smaller than this are measurement noise whatever the baseline


METRICS: tuple[Metric, ...] = (
    Metric("meshmark", "MeshMark", "points", True, 0.5),
    Metric("latency_ms_p50", "p50 latency", "ms", False, 0.01),
    Metric("latency_ms_p99", "p99 latency", "ms", False, 0.01),
    Metric("delta_p50_ms", "p50 overhead vs baseline", "ms", False, 0.01),
    Metric("delta_p99_ms", "p99 overhead vs baseline", "ms", False, 0.01),
    Metric("delta_cpu_cores_per_kqps", "CPU overhead vs baseline", "cores per 1k QPS", False, 0.001),
    Metric("delta_mem_mib", "memory overhead vs baseline", "MiB", False, 1.0),
    Metric("cpu_cores_used", "CPU used", "cores", False, 0.001),
    Metric("mem_mib_used", "memory used", "MiB", False, 1.0),
    Metric("mesh_cost_per_million_requests", "mesh cost", "per 1M requests", False, 1e-6),
)
METRICS_BY_COLUMN = {m.column: m for m in METRICS}


@dataclass(frozen=True)
class RegressionRule:
    history_runs: int = 7  # N previous runs whose median is the baseline level
    spread_runs: int = 28  # previous runs whose MAD estimates the noise (about four weeks nightly)
    min_history: int = 5  # fewer previous values than this: insufficient_history
    k: float = 4.0  # width of the noise band in robust standard deviations
    min_effect: float = 0.10  # smallest relative change that counts, as a fraction of the median

    def __post_init__(self) -> None:
        if self.history_runs < 1 or self.min_history < 1 or self.min_history > self.history_runs:
            raise ValueError(
                f"need 1 <= min_history ({self.min_history}) <= history_runs ({self.history_runs})"
            )
        if self.spread_runs < 1:
            raise ValueError(f"spread_runs must be at least 1, got {self.spread_runs}")
        if self.k < 0 or self.min_effect < 0:
            raise ValueError("k and min_effect must not be negative")

    def as_dict(self) -> dict[str, Any]:
        return {
            "history_runs": self.history_runs,
            "spread_runs": self.spread_runs,
            "min_history": self.min_history,
            "k": self.k,
            "min_effect": self.min_effect,
            "mad_to_sigma": MAD_TO_SIGMA,
            "threshold": "max(k * mad_to_sigma * MAD, min_effect * |median|, resolution[metric])",
        }


@dataclass(frozen=True)
class Verdict:
    classification: Classification
    baseline_median: float | None
    mad: float | None
    threshold: float | None
    change: float | None  # newest − median
    change_pct: float | None  # relative to |median|; None when the median is 0


def classify(newest: float, previous: Sequence[float], metric: Metric, rule: RegressionRule) -> Verdict:
    """The rule for one series (scalar form; `classify_history` applies it vectorised)."""
    known = np.asarray([v for v in previous if v is not None and not np.isnan(v)], dtype=float)
    recent = known[-rule.history_runs :]
    if len(recent) < rule.min_history:
        return Verdict("insufficient_history", None, None, None, None, None)
    median = float(np.median(recent))
    spread = known[-rule.spread_runs :]
    mad = float(np.median(np.abs(spread - np.median(spread))))
    threshold = _threshold(median, mad, metric, rule)
    change = newest - median
    return Verdict(
        _verdict(change, threshold, metric.higher_is_better),
        median,
        mad,
        threshold,
        change,
        (change / abs(median) * 100.0) if median != 0 else None,
    )


def _threshold(median: float, mad: float, metric: Metric, rule: RegressionRule) -> float:
    return max(rule.k * MAD_TO_SIGMA * mad, rule.min_effect * abs(median), metric.resolution)


def _verdict(change: float, threshold: float, higher_is_better: bool) -> Classification:
    worse = -change if higher_is_better else change
    if worse > threshold:
        return "regression"
    if -worse > threshold:
        return "improvement"
    return "stable"


SERIES_COLUMNS = [
    "mesh",
    "load_point",
    "requested_qps",
    "connections",
    "payload_bytes",
    "protocol",
    "is_baseline",
    "metric",
    "label",
    "unit",
    "classification",
    "newest",
    "baseline_median",
    "mad",
    "threshold",
    "change",
    "change_pct",
    "previous_runs",
    "run_id",
]


def classify_history(history: History, rule: RegressionRule | None = None) -> pd.DataFrame:
    """One row per series present in the newest run, with its classification (SERIES_COLUMNS).

    DuckDB does the per-series windowing over the whole history in one pass (a long history has
    hundreds of thousands of cell rows); the rule itself is then applied to one row per series.
    """
    rule = rule or RegressionRule()
    metrics = [m for m in METRICS if m.column in history.cells.columns]
    newest_seq = int(history.runs["run_seq"].iloc[-1])
    stats = _series_stats(history.cells, [m.column for m in metrics], newest_seq, rule)
    frames = [_apply_rule(stats[stats["metric"] == m.column].copy(), m, rule) for m in metrics]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SERIES_COLUMNS)
    frame["run_id"] = history.newest_run_id
    order = {c: i for i, c in enumerate(CLASSIFICATIONS)}
    frame["_order"] = frame["classification"].map(order)
    frame = frame.sort_values(["_order", "mesh", "requested_qps", "connections", "metric"], kind="stable")
    return frame.drop(columns="_order")[SERIES_COLUMNS].reset_index(drop=True)


def _series_stats(
    cells: pd.DataFrame, metrics: list[str], newest_seq: int, rule: RegressionRule
) -> pd.DataFrame:
    """Per series in the newest run: newest value, baseline median, previous count and MAD."""
    from meshmark_tasks.reporting.history import duckdb_connection

    key = "mesh, load_point, metric"
    lookback = 2 * (max(rule.history_runs, rule.spread_runs) + 1)
    columns = ", ".join(metrics)
    sql = f"""
        WITH recent_rows AS (
            -- A series' last `lookback` runs: enough for the rule unless a metric is missing in
            -- most of them; cutting here keeps the unpivot small on long histories.
            SELECT * FROM cells
            QUALIFY row_number() OVER (PARTITION BY mesh, load_point ORDER BY run_seq DESC) <= {lookback}
        ),
        long AS (
            UNPIVOT (SELECT {", ".join(SERIES_KEYS)}, requested_qps, connections, payload_bytes, protocol,
                            is_baseline, run_seq, {columns} FROM recent_rows)
            ON {columns} INTO NAME metric VALUE value
        ),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY run_seq DESC) - 1 AS from_end FROM long
        ),
        newest AS (
            SELECT mesh, load_point, metric, requested_qps, connections, payload_bytes, protocol,
                   is_baseline, value AS newest
            FROM ranked WHERE from_end = 0 AND run_seq = {newest_seq}
        ),
        recent AS (
            SELECT {key}, median(value) AS baseline_median, count(*) AS previous_runs
            FROM ranked WHERE from_end BETWEEN 1 AND {rule.history_runs} GROUP BY {key}
        ),
        centred AS (
            SELECT {key}, value, median(value) OVER (PARTITION BY {key}) AS centre
            FROM ranked WHERE from_end BETWEEN 1 AND {rule.spread_runs}
        ),
        spread AS (
            SELECT {key}, median(abs(value - centre)) AS mad FROM centred GROUP BY {key}
        )
        SELECT newest.*, recent.baseline_median, coalesce(recent.previous_runs, 0) AS previous_runs,
               spread.mad
        FROM newest
        LEFT JOIN recent USING (mesh, load_point, metric)
        LEFT JOIN spread USING (mesh, load_point, metric)
    """
    con = duckdb_connection()
    try:
        con.register("cells", cells)
        stats: pd.DataFrame = con.sql(sql).df()
    finally:
        con.close()
    return stats


def _apply_rule(out: pd.DataFrame, metric: Metric, rule: RegressionRule) -> pd.DataFrame:
    """The rule of the module doc, on whole columns (same result as `classify` per series)."""
    out["previous_runs"] = out["previous_runs"].astype(int)
    median = out["baseline_median"].to_numpy(dtype=float)
    threshold = np.maximum.reduce(
        [
            rule.k * MAD_TO_SIGMA * out["mad"].to_numpy(dtype=float),
            rule.min_effect * np.abs(median),
            np.full(len(out), metric.resolution),
        ]
    )
    change = out["newest"].to_numpy(dtype=float) - median
    worse = -change if metric.higher_is_better else change
    classification = np.where(
        worse > threshold, "regression", np.where(-worse > threshold, "improvement", "stable")
    )
    enough = out["previous_runs"].to_numpy() >= rule.min_history
    out["classification"] = np.where(enough, classification, "insufficient_history")
    out["threshold"] = threshold
    out["change"] = change
    with np.errstate(divide="ignore", invalid="ignore"):
        out["change_pct"] = np.where(median != 0, change / np.abs(median) * 100.0, np.nan)
    for column in ("baseline_median", "mad", "threshold", "change", "change_pct"):
        out.loc[~enough, column] = np.nan
    out["label"] = metric.label
    out["unit"] = metric.unit
    return out


def counts(series: pd.DataFrame) -> dict[str, int]:
    found = series["classification"].value_counts().to_dict() if len(series) else {}
    return {c: int(found.get(c, 0)) for c in CLASSIFICATIONS}


def series_records(series: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready dicts (NaN → None, numpy scalars → Python)."""
    records: list[dict[str, Any]] = []
    for row in series.to_dict(orient="records"):
        records.append({k: _plain(v) for k, v in row.items()})
    return records


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value
