"""The numbers of a run with their uncertainty: per load point and per mesh configuration.

A run measures every load point `repetitions` times, in rounds (matrix.expand_matrix: the
baseline and every mesh once per round, back to back). Method (docs/meshmark.md "The numbers of a
run: medians, CIs and significance"):

- `summarise_load_points` (table `meshmark_summary`, one row per run × mesh × load point): the
  median of the repetitions of p50, p99, data-plane CPU, achieved rate and MeshMark with the
  order-statistic 95 % CI of the median (`stats.median_ci_frame`); the overheads against the
  baseline (p50, p99, total CPU used) from the per-round log ratios mesh / baseline of the same
  round (`stats.paired_comparison`: relative change with its t-interval and p-value), and the
  MeshMark difference from the baseline in points, paired within rounds the same way on the linear
  scale. Baseline rows carry no comparison (null). Beside the raw medians, the speed-adjusted
  medians of p50, p99 and data-plane CPU (`stats.speed_adjusted_frame`): each repetition moved to
  the configuration's median app CPU per request before the median is taken, with the same
  order-statistic CI, so the machine's speed wandering during the night is not in the interval.
- `config_uncertainty` (extra columns of `meshmark_config`): one MeshMark per (mesh, round) - the
  mean over the load points of that round, as meshmark_mean is the mean over load points - whose
  t-interval over the rounds is the CI of meshmark_mean; and the per-round difference from the
  baseline's round value (over the load points both have in that round), paired t-test.

Rounds come from the `round` column, or `repetition` where a row has none (imported results: the
k-th repetitions are then paired, which keeps the test valid and only loses the drift cancelling).
With one round nothing has an interval or a test: CI, p-value and `*_significant` are null.
Significant means p < ALPHA (0.05), two-sided.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from meshmark_tasks import schemas
from meshmark_tasks.stats import StatsInputError, median_ci_frame, paired_comparison, speed_adjusted_frame
from meshmark_tasks.stats.values import Scale

ALPHA = 0.05
LEVEL = 0.95
LOAD_POINT = ["requested_qps", "connections", "payload_bytes", "protocol"]
_ROUND = "_round"
_DESCRIPTIVE = ["mesh_kind", "network_functions"]
# The machine's speed in a repetition's window: the app's CPU seconds per request (stats/adjusted.py).
_SPEED = "_app_cpu_s_per_request"


def _run_keys(frame: pd.DataFrame) -> list[str]:
    return [c for c in ("run_id", "run_date") if c in frame.columns]


def _rounds(frame: pd.DataFrame) -> pd.Series:
    """The round of each row: `round`, else `repetition`, else 0 (a single round)."""
    repetition = frame["repetition"] if "repetition" in frame.columns else pd.Series(0, index=frame.index)
    if "round" not in frame.columns:
        return repetition.astype("Int64")
    return frame["round"].astype("Int64").fillna(repetition.astype("Int64"))


def _cpu_used(results: pd.DataFrame) -> pd.Series:
    parts = ["cpu_cores_app", "cpu_cores_dataplane", "cpu_cores_controlplane"]
    if not all(c in results.columns for c in parts):
        return pd.Series(np.nan, index=results.index)
    # As scoring.mues.cpu_used: null when any part is unmeasured.
    return sum((results[c].astype("float64") for c in parts), pd.Series(0.0, index=results.index))


def _repetitions(scored: pd.DataFrame, results: pd.DataFrame | None) -> pd.DataFrame:
    """One row per scored repetition: keys, round, MeshMark and the result values summarised."""
    run_keys = _run_keys(scored)
    frame = scored[[*run_keys, "cell_id", "mesh", "is_baseline", *LOAD_POINT]].copy()
    for column in _DESCRIPTIVE:
        frame[column] = scored[column] if column in scored.columns else None
    frame[_ROUND] = _rounds(scored).to_numpy()
    frame["meshmark"] = scored["meshmark"].astype("float64").to_numpy()
    wanted = [*(m for m in schemas.SUMMARY_MEDIAN_METRICS if m != "meshmark"), "cpu_cores_app"]
    if results is not None and len(results):
        values = results[["cell_id", *(c for c in run_keys if c in results.columns)]].copy()
        for column in wanted:
            values[column] = results[column].astype("float64") if column in results.columns else np.nan
        values["cpu_cores_used"] = _cpu_used(results)
        frame = frame.merge(values, on=[c for c in values.columns if c in ("cell_id", *run_keys)], how="left")
    else:
        for column in [*wanted, "cpu_cores_used"]:
            frame[column] = np.nan
    frame["requested_qps"] = frame["requested_qps"].astype("float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = frame["cpu_cores_app"] / frame["actual_qps"]
    frame[_SPEED] = speed.where(np.isfinite(speed))
    return frame


def _speed_adjusted(frame: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """Per group: the app CPU per request the repetitions are adjusted to, and the adjusted medians."""
    out = frame.groupby(group, dropna=False, sort=True)[_SPEED].median().reset_index()
    out = out.rename(columns={_SPEED: "app_cpu_ms_per_request_median"})
    out["app_cpu_ms_per_request_median"] = 1000.0 * out["app_cpu_ms_per_request_median"]
    for metric in schemas.SUMMARY_ADJUSTED_METRICS:
        adjusted = speed_adjusted_frame(frame, group, metric, _SPEED, level=LEVEL)
        adjusted = adjusted.rename(
            columns={
                "median": f"{metric}_adjusted_median",
                "lower": f"{metric}_adjusted_ci_low",
                "upper": f"{metric}_adjusted_ci_high",
            }
        )
        keep = [*group, *(f"{metric}_adjusted_{p}" for p in ("median", "ci_low", "ci_high"))]
        out = out.merge(adjusted[keep], on=group, how="left")
    return out


def _baseline_by_round(frame: pd.DataFrame, keys: Sequence[str], values: Sequence[str]) -> pd.DataFrame:
    """Per (keys, round) the baseline's values; several baseline rows of one round are averaged."""
    base = frame[frame["is_baseline"].astype(bool)]
    return base.groupby([*keys, _ROUND], dropna=False, as_index=False)[list(values)].mean()


def _compare(
    treatment: pd.Series, baseline: pd.Series, scale: Scale
) -> tuple[int, float | None, float | None, float | None, float | None]:
    """(pairs, estimate, lower, upper, p-value) of paired_comparison; no complete pair gives zeros."""
    try:
        result = paired_comparison(treatment, baseline, scale=scale, level=LEVEL)
    except StatsInputError:
        return 0, None, None, None, None
    return result.n_a, result.estimate, result.lower, result.upper, result.p_value


def _significant(p_value: float | None) -> bool | None:
    return None if p_value is None else bool(p_value < ALPHA)


def summarise_load_points(scored: pd.DataFrame, results: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows of schemas.MESHMARK_SUMMARY (run_id / run_date only when `scored` has them).

    `scored` is score_cells' output (one row per scored repetition); `results` the results rows
    they were scored from (joined on cell_id, and run_id when both have it), for the latencies and
    CPU. Without `results` only the MeshMark columns are filled.
    """
    run_keys = _run_keys(scored)
    columns = [
        c
        for c in schemas.MESHMARK_SUMMARY.names
        if (c not in ("run_id", "run_date") or c in run_keys) and c not in schemas.RUN_LEVEL_COLUMNS
    ]
    if scored.empty:
        return schemas.MESHMARK_SUMMARY.empty_table().to_pandas()[columns]
    frame = _repetitions(scored, results)
    group = [*run_keys, "mesh", *LOAD_POINT]
    first = frame.groupby(group, dropna=False, sort=True, as_index=False).agg(
        is_baseline=("is_baseline", "first"),
        mesh_kind=("mesh_kind", "first"),
        network_functions=("network_functions", "first"),
    )
    out = first.copy()
    for metric in schemas.SUMMARY_MEDIAN_METRICS:
        ci = median_ci_frame(frame, group, metric, level=LEVEL)
        ci = ci.rename(
            columns={"median": f"{metric}_median", "lower": f"{metric}_ci_low", "upper": f"{metric}_ci_high"}
        )
        if metric == "meshmark":
            ci = ci.rename(columns={"n": "repetitions_used", "level": "ci_level"})
            keep = [
                *group,
                "repetitions_used",
                "ci_level",
                *(f"{metric}_{p}" for p in ("median", "ci_low", "ci_high")),
            ]
        else:
            keep = [*group, *(f"{metric}_{p}" for p in ("median", "ci_low", "ci_high"))]
        out = out.merge(ci[keep], on=group, how="left")
    # One repetition: a median but no interval and no achieved level worth stating.
    out.loc[out["repetitions_used"] < 2, "ci_level"] = np.nan
    out = out.merge(_paired_deltas(frame, run_keys), on=group, how="left")
    out = out.merge(_speed_adjusted(frame, group), on=group, how="left")
    out["repetitions_used"] = out["repetitions_used"].astype("int32")
    return out[columns].sort_values(group, kind="stable", ignore_index=True)


def _meshmark_delta(paired: pd.DataFrame) -> tuple[int, dict[str, Any]]:
    """(pairs, the meshmark_delta* columns): MeshMark minus the baseline's of the same round."""
    if paired.empty:
        n, estimate, lower, upper, p = 0, None, None, None, None
    else:
        n, estimate, lower, upper, p = _compare(paired["meshmark"], paired["meshmark_baseline"], "linear")
    return n, {
        "meshmark_delta": estimate,
        "meshmark_delta_ci_low": lower,
        "meshmark_delta_ci_high": upper,
        "meshmark_delta_p_value": p,
        "meshmark_delta_significant": _significant(p),
    }


def _paired_deltas(frame: pd.DataFrame, run_keys: list[str]) -> pd.DataFrame:
    """Per non-baseline (run, mesh, load point): the paired overheads and the MeshMark difference."""
    keys = [*run_keys, *LOAD_POINT]
    values = [*schemas.SUMMARY_PAIRED_DELTAS.values(), "meshmark"]
    baseline = _baseline_by_round(frame, keys, list(dict.fromkeys(values)))
    meshes = frame[~frame["is_baseline"].astype(bool)]
    paired = meshes.merge(baseline, on=[*keys, _ROUND], how="inner", suffixes=("", "_baseline"))
    records: list[dict[str, Any]] = []
    for group_key, part in paired.groupby([*run_keys, "mesh", *LOAD_POINT], dropna=False, sort=True):
        record: dict[str, Any] = dict(zip([*run_keys, "mesh", *LOAD_POINT], group_key, strict=True))
        pairs = 0
        for name, value in schemas.SUMMARY_PAIRED_DELTAS.items():
            n, estimate, lower, upper, p = _compare(part[value], part[f"{value}_baseline"], "log")
            pairs = max(pairs, n)
            record[f"{name}_pct"] = None if estimate is None else 100.0 * estimate
            record[f"{name}_pct_ci_low"] = None if lower is None else 100.0 * lower
            record[f"{name}_pct_ci_high"] = None if upper is None else 100.0 * upper
            record[f"{name}_p_value"] = p
            record[f"{name}_significant"] = _significant(p)
        n, delta = _meshmark_delta(part)
        record.update(pairs_used=max(pairs, n), **delta)
        records.append(record)
    delta_columns = ["pairs_used", *(n for n in schemas.MESHMARK_SUMMARY.names if "delta" in n)]
    result = pd.DataFrame(records, columns=[*run_keys, "mesh", *LOAD_POINT, *delta_columns])
    for column in delta_columns:
        if column.endswith("_significant"):
            result[column] = result[column].astype("boolean")
        elif column == "pairs_used":
            result[column] = result[column].astype("Int32")
        else:
            result[column] = result[column].astype("float64")
    result["requested_qps"] = result["requested_qps"].astype("float64")
    return result


CONFIG_COLUMNS = [
    "repetitions_used",
    "meshmark_ci_low",
    "meshmark_ci_high",
    "meshmark_delta",
    "meshmark_delta_ci_low",
    "meshmark_delta_ci_high",
    "meshmark_delta_p_value",
    "meshmark_delta_significant",
]


def _mean_interval(values: np.ndarray) -> tuple[float | None, float | None]:
    """Student's t-interval of the mean (scipy), None below two values or without any spread."""
    if values.size < 2 or np.ptp(values) == 0:
        return None, None
    low, high = scipy_stats.t.interval(
        LEVEL, values.size - 1, loc=values.mean(), scale=scipy_stats.sem(values)
    )
    return float(low), float(high)


def config_uncertainty(scored: pd.DataFrame) -> pd.DataFrame:
    """Per (run, mesh): CONFIG_COLUMNS (see the module doc), keyed by the run columns and mesh."""
    run_keys = _run_keys(scored)
    config = [*run_keys, "mesh"]
    if scored.empty:
        return pd.DataFrame(columns=[*config, *CONFIG_COLUMNS])
    frame = scored[[*config, *LOAD_POINT]].copy()
    frame[_ROUND] = _rounds(scored).to_numpy()
    frame["meshmark"] = scored["meshmark"].astype("float64").to_numpy()
    # Without is_baseline (a bare table of scores) there is no baseline to compare with.
    frame["is_baseline"] = scored["is_baseline"].astype(bool) if "is_baseline" in scored.columns else False
    frame = frame.dropna(subset=["meshmark"])
    # A load point's MeshMark in a round (several rows of one round and point are averaged first).
    point = frame.groupby([*config, _ROUND, *LOAD_POINT], dropna=False, as_index=False).agg(
        meshmark=("meshmark", "mean"), is_baseline=("is_baseline", "first")
    )
    per_round = point.groupby([*config, _ROUND], dropna=False, as_index=False)["meshmark"].mean()
    base = point[point["is_baseline"].astype(bool)]
    base = base.groupby([*run_keys, _ROUND, *LOAD_POINT], dropna=False, as_index=False)["meshmark"].mean()
    versus = point[~point["is_baseline"].astype(bool)].merge(
        base, on=[*run_keys, _ROUND, *LOAD_POINT], how="inner", suffixes=("", "_baseline")
    )
    # Over the load points both have in the round, so a missing cell on one side is not a difference.
    versus = versus.groupby([*config, _ROUND], dropna=False, as_index=False)[
        ["meshmark", "meshmark_baseline"]
    ].mean()
    records: list[dict[str, Any]] = []
    for key, part in per_round.groupby(config, dropna=False, sort=True):
        record: dict[str, Any] = dict(zip(config, key, strict=True))
        values = part["meshmark"].to_numpy(dtype=np.float64)
        record["repetitions_used"] = int(values.size)
        record["meshmark_ci_low"], record["meshmark_ci_high"] = _mean_interval(values)
        mine = versus
        for column, value in zip(config, key, strict=True):
            mine = mine[mine[column] == value]
        record.update(_meshmark_delta(mine)[1])
        records.append(record)
    result = pd.DataFrame(records, columns=[*config, *CONFIG_COLUMNS])
    result["repetitions_used"] = result["repetitions_used"].astype("int64")
    result["meshmark_delta_significant"] = result["meshmark_delta_significant"].astype("boolean")
    for column in CONFIG_COLUMNS[1:-1]:
        result[column] = result[column].astype("float64")
    return result
