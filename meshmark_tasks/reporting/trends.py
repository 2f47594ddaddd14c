"""Regression detection: change points in every series' history of per-repetition values.

A *series* is one metric of one mesh configuration at one load point (plus MeshMark per mesh
configuration, the mean over its load points); its history is every repetition of the newest
`history_runs` runs in the report window. `meshmark_tasks.stats.detect_frame` finds its level
changes (docs/meshmark.md, "Uncertainty and change points": nights as units with within- and
between-night variance, ruptures KernelCPD candidates, a t-test per candidate at `p_value`, a
minimum magnitude, variance pooled across the series of a metric). Then, per series present in
the newest run:

    regression            a reported change point starts at the newest night and is worse
    improvement           … and is better (lower MeshMark is worse; higher anything else)
    machine_drift         … but it moved with the machine's speed that night (the drift check)
    stable                no reported change point at the newest night
    insufficient_history  fewer than `min_history` earlier nights (or no usable values)

Reported change points on earlier nights are "recent changes": history, not tonight's verdict.

The drift check (`meshmark_tasks.stats.check_drift`): metrics that move with the machine's speed
(latency, CPU and the overheads: `Metric.speed_bound`) are tested again with each night's
values divided by that night's speed index, the baseline's app CPU per request at the same load
point (`speed_index_values`). A newest-night flag is `machine_drift` when the index itself changed
that night in the same direction (significant at `drift_p_value`) and the flag does not survive
the division: the machine ran faster or slower, every configuration alike (measured:
docs/benchmarks.md, "Fidelity"). Without a baseline or app CPU there is no index and flags stand
as they are. Mesh cost is not checked: its memory part does not move with the machine's speed.

Which series, on which scale: series.py (from the simulations behind the stats package: latency,
CPU and memory on the log scale, changes being relative; MeshMark, the overhead deltas and the
mesh cost on the linear scale with a minimum absolute change, as they can be 0 or negative; the
baseline's overheads are always 0, so mesh-only metrics leave the baseline out). The old rule
(newest value against a 7-run median ± 4 × 1.4826 × MAD) is retired: it needed a 60–70 % move of
a noisy series before it fired.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special

from meshmark_tasks.reporting.history import History
from meshmark_tasks.reporting.series import (
    LOAD_POINT_COLUMNS,
    METRICS,
    METRICS_BY_COLUMN,
    Metric,
    metric_values,
    speed_index_values,
)
from meshmark_tasks.reporting.what_changed import descriptors_by_night, what_changed
from meshmark_tasks.stats import ChangePointConfig, SpeedIndex, check_drift, detect_frame, speed_index

Classification = Literal["regression", "improvement", "machine_drift", "stable", "insufficient_history"]
CLASSIFICATIONS: tuple[Classification, ...] = (
    "regression",
    "improvement",
    "machine_drift",
    "stable",
    "insufficient_history",
)
METHOD = "change_point"


@dataclass(frozen=True)
class TrendRule:
    """The detector's settings for a report (ChangePointConfig per metric, see `config_for`)."""

    p_value: float = 0.001  # two-sided significance a change point must reach (Otava's default)
    min_magnitude: float = 0.05  # smallest relative change reported
    min_history: int = 5  # earlier nights a series needs before its newest night is tested
    history_runs: int = 90  # the newest runs of the window analysed per series (keeps a long window fast)
    drift_p_value: float = 0.05  # the drift check: how significant the machine's own change must be

    def __post_init__(self) -> None:
        if self.history_runs < 1:
            raise ValueError(f"history_runs must be at least 1, got {self.history_runs}")
        if not 0.0 < self.drift_p_value < 1.0:
            raise ValueError(f"drift_p_value must be a probability in (0, 1), got {self.drift_p_value!r}")
        self.config_for(METRICS[0])  # validates the rest (StatsInputError names the field)

    def config_for(self, metric: Metric) -> ChangePointConfig:
        return ChangePointConfig(
            p_value=self.p_value,
            min_magnitude=self.min_magnitude,
            min_change=metric.resolution if metric.scale == "linear" else 0.0,
            min_history=self.min_history,
            scale=metric.scale,
        )

    def as_dict(self) -> dict[str, Any]:
        base = ChangePointConfig()
        return {
            "method": METHOD,
            "p_value": self.p_value,
            "min_magnitude": self.min_magnitude,
            "min_history": self.min_history,
            "history_runs": self.history_runs,
            "drift_p_value": self.drift_p_value,
            "candidate_penalty": base.candidate_penalty,
            "min_segment": base.min_segment,
            "level": base.level,
            "pool": base.pool,
            "scales": {m.column: m.scale for m in METRICS},
            "min_change": {m.column: m.resolution for m in METRICS if m.scale == "linear"},
        }


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
    "method",
    "scale",
    "first_night",
    "magnitude",
    "magnitude_ci",
    "p_value",
    "direction",
    "level_before",
    "level_after",
    "nights_before",
    "nights_after",
    "repetitions",
    "sigma_within",
    "sigma_between",
    "change_points",
    "what_changed",
    "drift",
    "message",
]
# An insufficient_history entry of regressions.json: what names the series and why its newest night
# was not tested; the test's fields (levels, p-value, threshold, ...) are always null for it.
INSUFFICIENT_COLUMNS = [
    "mesh",
    "load_point",
    "metric",
    "label",
    "unit",
    "classification",
    "newest",
    "repetitions",
    "previous_runs",
    "message",
]
CHANGE_COLUMNS = [
    "mesh",
    "load_point",
    "metric",
    "label",
    "unit",
    "first_night",
    "is_newest",
    "magnitude",
    "magnitude_ci",
    "change",
    "p_value",
    "direction",
    "level_before",
    "level_after",
    "nights_before",
    "nights_after",
    "what_changed",
]


@dataclass(frozen=True)
class Trends:
    series: pd.DataFrame  # one row per series in the newest run (SERIES_COLUMNS), verdicts first
    changes: pd.DataFrame  # every reported change point of those series (CHANGE_COLUMNS), newest first

    @property
    def recent_changes(self) -> pd.DataFrame:
        """Reported change points on nights before the newest."""
        return self.changes[~self.changes["is_newest"].astype(bool)].reset_index(drop=True)


def classify_history(history: History, rule: TrendRule | None = None) -> pd.DataFrame:
    """One row per series present in the newest run, with its classification (SERIES_COLUMNS)."""
    return detect_history(history, rule).series


def detect_history(history: History, rule: TrendRule | None = None) -> Trends:
    rule = rule or TrendRule()
    newest_seq = int(history.runs["run_seq"].iloc[-1])
    reps = history.repetitions
    reps = reps[reps["run_seq"] > newest_seq - rule.history_runs]
    nights = _night_lookup(history)
    descriptors = descriptors_by_night(reps)
    speed_config = rule.config_for(METRICS_BY_COLUMN["latency_ms_p50"])  # the log scale's settings
    speed = speed_index(
        speed_index_values(reps), ["load_point"], "run_seq", "value", speed_config, rule.drift_p_value
    )
    series_frames: list[pd.DataFrame] = []
    change_frames: list[pd.DataFrame] = []
    for metric in METRICS:
        values = metric_values(reps, metric)
        if values.empty:
            continue
        series, changes = _detect_metric(values, metric, rule, newest_seq, nights, descriptors, speed)
        series_frames.append(series)
        change_frames.append(changes)
    series = _concat(series_frames, SERIES_COLUMNS)
    changes = _concat(change_frames, CHANGE_COLUMNS)
    series["run_id"] = history.newest_run_id
    order = {c: i for i, c in enumerate(CLASSIFICATIONS)}
    series["_order"] = series["classification"].map(order)
    series["_qps"] = pd.to_numeric(series["requested_qps"], errors="coerce")
    series = series.sort_values(["_order", "mesh", "_qps", "load_point", "metric"], kind="stable")
    series = series.drop(columns=["_order", "_qps"])[SERIES_COLUMNS].reset_index(drop=True)
    if len(changes):
        changes["_seq"] = [n["run_seq"] for n in changes["first_night"]]
        changes = changes.sort_values(
            ["_seq", "mesh", "load_point", "metric"], ascending=[False, True, True, True]
        )
        changes = changes.drop(columns="_seq").reset_index(drop=True)
    return Trends(series, changes)


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _night_lookup(history: History) -> dict[int, dict[str, Any]]:
    """run_seq → {run_id, run_date, run_seq}: how a night is named in the outputs."""
    out: dict[int, dict[str, Any]] = {}
    for run in history.runs.itertuples(index=False):
        date = run.run_date
        out[int(run.run_seq)] = {
            "run_id": str(run.run_id),
            "run_date": (date.date() if isinstance(date, pd.Timestamp) else date).isoformat()[:10]
            if date is not None
            else None,
            "run_seq": int(run.run_seq),
        }
    return out


def _detect_metric(
    values: pd.DataFrame,
    metric: Metric,
    rule: TrendRule,
    newest_seq: int,
    nights: dict[int, dict[str, Any]],
    descriptors: dict[tuple[str, int], dict[str, Any]],
    speed: SpeedIndex,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    keys = ["mesh", "load_point"]
    values = values[values.groupby(keys, sort=False)["run_seq"].transform("max") == newest_seq]
    if values.empty:
        return pd.DataFrame(columns=SERIES_COLUMNS), pd.DataFrame(columns=CHANGE_COLUMNS)
    config = rule.config_for(metric)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # noiseless series
        detected = detect_frame(values, keys, "run_seq", "value", config)
        drift = _drift(values, keys, metric, config, speed, detected.series)
    newest_rows = values[values["run_seq"] == newest_seq].groupby(keys)["value"].agg(["median", "size"])
    newest_values = {
        (str(m), str(lp)): (float(median), int(size))
        for (m, lp), median, size in zip(
            newest_rows.index, newest_rows["median"], newest_rows["size"], strict=True
        )
    }
    load_points = {
        (str(r[0]), str(r[1])): dict(zip(LOAD_POINT_COLUMNS, r[2:], strict=True))
        for r in values.drop_duplicates(keys)[[*keys, *LOAD_POINT_COLUMNS]].itertuples(index=False, name=None)
    }
    points_by_series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    change_rows: list[dict[str, Any]] = []
    for cp in detected.change_points.to_dict(orient="records"):
        key = (str(cp["mesh"]), str(cp["load_point"]))
        record = _change_record(cp, metric, nights, descriptors)
        points_by_series.setdefault(key, []).append(record)
        change_rows.append({"mesh": key[0], "load_point": key[1], **record})
    thresholds = _thresholds(detected.series, config)
    rows = []
    for row, threshold in zip(detected.series.to_dict(orient="records"), thresholds, strict=True):
        key = (str(row["mesh"]), str(row["load_point"]))
        rows.append(
            {
                "mesh": key[0],
                "load_point": key[1],
                **{c: _plain(v) for c, v in load_points[key].items()},
                **_series_record(
                    row, metric, newest_values.get(key), newest_seq, nights, descriptors, drift.get(key)
                ),
                "threshold": threshold,
                "change_points": points_by_series.get(key, []),
            }
        )
    return pd.DataFrame(rows), pd.DataFrame(change_rows, columns=CHANGE_COLUMNS)


def _drift(
    values: pd.DataFrame,
    keys: list[str],
    metric: Metric,
    config: ChangePointConfig,
    speed: SpeedIndex,
    detected: pd.DataFrame,
) -> dict[tuple[str, str], dict[str, Any]]:
    """Per flagged series of a speed-bound metric, the drift check's findings (module doc)."""
    if not metric.speed_bound or speed.empty or not detected["newest_flagged"].astype(bool).any():
        return {}
    checked = check_drift(values, keys, "value", speed, config, raw=detected)
    out = {}
    for row in checked[checked["newest_flagged"].astype(bool)].to_dict(orient="records"):
        out[(str(row["mesh"]), str(row["load_point"]))] = {
            "explained": bool(row["drift_explained"]),
            "index_change": _number(row["index_change"]),
            "normalised_magnitude": _number(row["normalised_magnitude"]),
            "normalised_p_value": _number(row["normalised_p_value"]),
        }
    return out


def _classification(row: dict[str, Any], metric: Metric, drift: dict[str, Any] | None) -> Classification:
    if row["status"] != "ok":
        return "insufficient_history"
    if not row["newest_flagged"]:
        return "stable"
    if drift is not None and drift["explained"]:
        return "machine_drift"
    increase = (row["newest_change"] or 0.0) > 0
    return "improvement" if increase == metric.higher_is_better else "regression"


def _sense(increase: bool, metric: Metric) -> str:
    return "improvement" if increase == metric.higher_is_better else "regression"


def _series_record(
    row: dict[str, Any],
    metric: Metric,
    newest: tuple[float, int] | None,
    newest_seq: int,
    nights: dict[int, dict[str, Any]],
    descriptors: dict[tuple[str, int], dict[str, Any]],
    drift: dict[str, Any] | None,
) -> dict[str, Any]:
    tested = row["status"] == "ok" and _number(row["newest_p_value"]) is not None
    before, after, change = (_number(row[c]) for c in ("newest_before", "newest_after", "newest_change"))
    magnitude = _number(row["newest_magnitude"])
    lower, upper = _number(row["newest_lower"]), _number(row["newest_upper"])
    classification = _classification(row, metric, drift)
    flagged = classification in ("regression", "improvement", "machine_drift")
    mesh = str(row["mesh"])
    return {
        "metric": metric.column,
        "label": metric.label,
        "unit": metric.unit,
        "classification": classification,
        "newest": newest[0] if newest is not None else None,
        "baseline_median": before if tested else None,
        "mad": None,  # the retired rule's spread; kept as a key so readers of schema 1 still parse
        "change": change if tested else None,
        "change_pct": magnitude * 100.0 if tested and magnitude is not None else None,
        "previous_runs": max(int(row["nights"] or 0) - 1, 0),
        "method": METHOD,
        "scale": metric.scale,
        "first_night": nights.get(newest_seq) if flagged else None,
        "magnitude": magnitude if tested else None,
        "magnitude_ci": [lower, upper] if tested and lower is not None else None,
        "p_value": _number(row["newest_p_value"]) if tested else None,
        "direction": _sense((change or 0.0) > 0, metric) if tested and change else None,
        "level_before": before if tested else None,
        "level_after": after if tested else None,
        "nights_before": max(int(row["nights"] or 0) - 1, 0) if tested else None,
        "nights_after": 1 if tested else None,
        "repetitions": newest[1] if newest is not None else 0,
        "sigma_within": _number(row["sigma_within"]),
        "sigma_between": _number(row["sigma_between"]),
        "what_changed": what_changed(descriptors, mesh, newest_seq) if flagged else [],
        # The drift check of a flagged speed-bound series: the speed index's change that night and
        # the series' change once it is divided out (None: not flagged or nothing to check with).
        "drift": {k: v for k, v in drift.items() if k != "explained"} if drift is not None else None,
        "message": row["message"] if row["status"] != "ok" else None,
    }


def _thresholds(series: pd.DataFrame, config: ChangePointConfig) -> list[float | None]:
    """Per series, the smallest change of the newest night that would have been reported, in the
    metric's units: max(the t-test's bound at p_value, min_magnitude × level, min_change). The
    test's standard error is recovered from the magnitude's CI (log: ln(1+m) ± t·se; linear:
    m ± t·se/|level|). None where the newest night was not tested."""
    if series.empty:
        return []
    lower = pd.to_numeric(series["newest_lower"], errors="coerce").to_numpy(dtype=float)
    upper = pd.to_numeric(series["newest_upper"], errors="coerce").to_numpy(dtype=float)
    level = np.abs(pd.to_numeric(series["newest_before"], errors="coerce").to_numpy(dtype=float))
    df = pd.to_numeric(series["df"], errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = np.where(df > 0, df, np.nan)
        t_ci = special.stdtrit(df, 0.5 + config.level / 2.0)
        t_test = special.stdtrit(df, 1.0 - config.p_value / 2.0)
        if config.scale == "log":
            se = (np.log1p(upper) - np.log1p(lower)) / (2.0 * t_ci)
            bound = level * np.maximum(np.expm1(t_test * se), config.min_magnitude)
        else:
            se = (upper - lower) * level / (2.0 * t_ci)
            bound = np.maximum.reduce(
                [t_test * se, config.min_magnitude * level, np.full(level.size, config.min_change)]
            )
    ok = (series["status"] == "ok").to_numpy() & np.isfinite(bound)
    return [float(b) if good else None for b, good in zip(bound, ok, strict=True)]


def _change_record(
    cp: dict[str, Any],
    metric: Metric,
    nights: dict[int, dict[str, Any]],
    descriptors: dict[tuple[str, int], dict[str, Any]],
) -> dict[str, Any]:
    seq = int(cp["night"])
    lower, upper = _number(cp["lower"]), _number(cp["upper"])
    return {
        "metric": metric.column,
        "label": metric.label,
        "unit": metric.unit,
        "first_night": nights.get(seq, {"run_seq": seq}),
        "is_newest": bool(cp["is_newest"]),
        "magnitude": _number(cp["magnitude"]),
        "magnitude_ci": [lower, upper] if lower is not None else None,
        "change": _number(cp["change"]),
        "p_value": _number(cp["p_value"]),
        "direction": _sense(cp["direction"] == "increase", metric),
        "level_before": _number(cp["before"]),
        "level_after": _number(cp["after"]),
        "nights_before": int(cp["nights_before"]),
        "nights_after": int(cp["nights_after"]),
        "what_changed": what_changed(descriptors, str(cp["mesh"]), seq),
    }


def _number(value: Any) -> float | None:
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def counts(series: pd.DataFrame) -> dict[str, int]:
    found = series["classification"].value_counts().to_dict() if len(series) else {}
    return {c: int(found.get(c, 0)) for c in CLASSIFICATIONS}


def series_records(series: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready dicts (NaN → None, numpy scalars → Python)."""
    return [{k: _plain(v) for k, v in row.items()} for row in series.to_dict(orient="records")]


def insufficient_record(record: dict[str, Any]) -> dict[str, Any]:
    """A series record of an insufficient_history series cut to INSUFFICIENT_COLUMNS."""
    return {column: record[column] for column in INSUFFICIENT_COLUMNS}


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value
