"""Power and false alarms of the change-point detector on recorded repetitions (bench_fidelity `detect`).

Real nights cost minutes each, and a trial needs a history of several nights, so trials are
composed from one interleaved recording (`bench_fidelity record`): every round runs each mesh
unchanged and the changed mesh with each change (variant), all at the same load points, in an
order rotated every round. Consecutive rounds are cut into blocks of `reps_per_night` rounds; a
block is one *night*. A trial is

    history = `history_nights` blocks of unchanged values, in a random order (or, with
              mode "recorded", the blocks just before the test block, in recorded order),
    test    = one more block, never one of the history's: its unchanged values (a no-change
              night) or, for one variant, the same block with the changed mesh's values taken
              from that variant's cells of the same rounds (a changed night: the change's first
              night).

Each trial runs the detector exactly as the trend report does: `meshmark_tasks.stats.detect_frame`
with `ChangePointConfig()` defaults, one call per metric over every series of that metric
(mesh × load point; nights as units, variance pooled across the call's series). A series is
flagged when `newest_flagged` (a reported change point starts at the test night).

- False alarms: every series of a no-change trial counts (every mesh × load point × metric; the
  baseline has no data plane, so no data-plane CPU series). Per 30 nights = flagged series per
  trial × 30.
- Power: for each variant and each series of the changed mesh, the share of changed trials in
  which that series is flagged as an increase on the test night. The other meshes' series of a
  changed trial are no-change series too; their flags are counted apart.
- The series mirror the trend report's: the raw metrics, the data plane's CPU per app CPU, and the
  paired p50/p99 ratios to the baseline of the same round. The raw latency and CPU series go
  through the report's drift check (`meshmark_tasks.stats.check_drift`, speed index = the
  baseline's app CPU seconds per request at the same load point): a flag explained by the
  machine's speed is counted apart ("explained by drift"), as the report lists it apart.

Pure functions over the JSON records; bench_fidelity prints and saves what `evaluate` returns.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from meshmark_tasks.stats import ChangePointConfig, check_drift, detect_frame, paired_comparison, speed_index

UNCHANGED = "unchanged"
MEASURED_METRICS = ("p50_ms", "p99_ms", "cpu_dataplane", "cpu_app")


def _per_request(record: dict[str, Any]) -> float:
    """The app's CPU seconds per request in a record (NaN when not computable)."""
    try:
        return float(record["cpu_seconds_app"]) / float(record["requests"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return math.nan


# Within-cell ratios to the app's CPU in the same window: the app does the same work per request
# in every configuration, so this cancels how fast the (shared, virtual) machine ran in that window.
NORMALISED_METRICS = {
    "cpu_dataplane_per_app_cpu": lambda r: r["cpu_dataplane"] / r["cpu_app"],
    "p50_ms_per_app_cpu_ms": lambda r: r["p50_ms"] / (1000 * _per_request(r)),
}
# Each mesh repetition ÷ the baseline's in the same round and load point (the report's paired ratios).
PAIRED_METRICS = {"p50_ratio_vs_baseline": "p50_ms", "p99_ratio_vs_baseline": "p99_ms"}
DETECT_METRICS = (*MEASURED_METRICS, *NORMALISED_METRICS, *PAIRED_METRICS)
# The raw series the trend report's drift check applies to (series.py: Metric.speed_bound).
DRIFT_CHECKED = ("p50_ms", "p99_ms", "cpu_dataplane", "cpu_app")
SPEED = "app_cpu_s_per_request"  # the speed index's value: the baseline's app CPU per request
BASELINE = "baseline"
SERIES_KEYS = ["mesh", "qps"]
MODES = ("permuted", "recorded")


@dataclass(frozen=True)
class Trial:
    """One composed trial: the test block and the history's blocks, oldest first."""

    test: int
    history: tuple[int, ...]


def recorded(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `record` stage's successful repetitions (failed ones are left out: missing values)."""
    return [r for r in records if r.get("stage") == "record" and r.get("failure") is None]


def changes_in(records: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """(mesh, variant) of every change in the recording, sorted."""
    return sorted({(r["mesh"], r["variant"]) for r in records if r["variant"] != UNCHANGED})


def blocks_of(records: Sequence[dict[str, Any]], reps_per_night: int) -> list[tuple[int, ...]]:
    """Consecutive rounds cut into nights of `reps_per_night` rounds; an incomplete tail is dropped."""
    if reps_per_night < 1:
        raise ValueError(f"reps_per_night must be at least 1, not {reps_per_night}")
    rounds = sorted({int(r["round"]) for r in records})
    whole = len(rounds) - len(rounds) % reps_per_night
    return [tuple(rounds[i : i + reps_per_night]) for i in range(0, whole, reps_per_night)]


def compose_trials(
    n_blocks: int, history_nights: int, *, mode: str = "permuted", orders: int = 1, seed: int = 10
) -> list[Trial]:
    """Trials over blocks 0..n_blocks-1 (see the module doc); every block is a test block once per order.

    "permuted": for each test block, `orders` random histories of `history_nights` other blocks.
    "recorded": the `history_nights` blocks just before the test block (so only the later blocks
    are test blocks), once.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if not 1 <= history_nights < n_blocks:
        raise ValueError(f"need 1 <= history_nights < blocks ({n_blocks}), got {history_nights}")
    if mode == "recorded":
        return [Trial(t, tuple(range(t - history_nights, t))) for t in range(history_nights, n_blocks)]
    rng = random.Random(seed)
    trials = []
    for _ in range(orders):
        for test in range(n_blocks):
            others = [b for b in range(n_blocks) if b != test]
            rng.shuffle(others)
            trials.append(Trial(test, tuple(others[:history_nights])))
    return trials


def _index(records: Sequence[dict[str, Any]]) -> dict[tuple[int, str, Any, str], dict[str, Any]]:
    return {(int(r["round"]), r["mesh"], r["qps"], r["variant"]): r for r in records}


def trial_frame(
    records: Sequence[dict[str, Any]],
    blocks: Sequence[tuple[int, ...]],
    trial: Trial,
    change: tuple[str, str] | None = None,
    *,
    index: dict[tuple[int, str, Any, str], dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """One row per repetition: mesh, qps, night (0 = oldest; the test night last), the metrics.

    `change` = (mesh, variant): on the test night that mesh's values come from the variant's cells.
    """
    index = index if index is not None else _index(records)
    unchanged: dict[int, list[tuple[str, Any, dict[str, Any]]]] = {}
    for (rnd, mesh, qps, variant), record in index.items():
        if variant == UNCHANGED:
            unchanged.setdefault(rnd, []).append((mesh, qps, record))
    rows = []
    nights = [blocks[b] for b in (*trial.history, trial.test)]
    test_night = len(nights) - 1
    for night, block in enumerate(nights):
        for rnd in block:
            for mesh, qps, record in unchanged.get(rnd, []):
                if change is not None and night == test_night and mesh == change[0]:
                    # A changed cell that failed is a missing value, like any failed repetition.
                    record = index.get((rnd, mesh, qps, change[1]), {})
                baseline = index.get((rnd, BASELINE, qps, UNCHANGED), {})
                row = {"mesh": mesh, "qps": qps, "night": night}
                row.update({m: metric_value(record, m) for m in (*MEASURED_METRICS, *NORMALISED_METRICS)})
                for paired, raw in PAIRED_METRICS.items():
                    ratio = _value(record.get(raw)) / _value(baseline.get(raw))
                    row[paired] = ratio if mesh != BASELINE and math.isfinite(ratio) else math.nan
                row[SPEED] = _per_request(record) if mesh == BASELINE else math.nan
                rows.append(row)
    return pd.DataFrame(rows, columns=[*SERIES_KEYS, "night", *DETECT_METRICS, SPEED])


def _value(value: Any) -> float:
    return math.nan if value is None else float(value)


def metric_value(record: dict[str, Any], metric: str) -> float:
    """A measured metric, or a normalised one computed from the record (NaN when not computable)."""
    if metric in NORMALISED_METRICS:
        try:
            return float(NORMALISED_METRICS[metric](record))
        except (KeyError, TypeError, ZeroDivisionError):
            return math.nan
    return _value(record.get(metric))


def detect_trial(frame: pd.DataFrame, config: ChangePointConfig | None = None) -> pd.DataFrame:
    """The detector on a trial's frame, one call per metric (as the trend report calls it).

    A series whose values are all 0 or missing (the baseline's data-plane CPU) is not a series.
    Returns one row per series: mesh, qps, metric, status, newest_flagged, newest_magnitude,
    newest_p_value.
    """
    config = config or ChangePointConfig()
    speed = speed_index(frame[frame["mesh"] == BASELINE], ["qps"], "night", SPEED, config)
    out = []
    for metric in DETECT_METRICS:
        measured = frame.groupby(SERIES_KEYS, dropna=False)[metric].transform(
            lambda s: (s.fillna(0) > 0).any()
        )
        part = frame.loc[measured.astype(bool), [*SERIES_KEYS, "night", metric]]
        if part.empty:
            continue
        series = detect_frame(part, SERIES_KEYS, "night", metric, config).series
        series = series.assign(metric=metric, drift_explained=False)
        if metric in DRIFT_CHECKED and series["newest_flagged"].astype(bool).any():
            drift = check_drift(part, SERIES_KEYS, metric, speed, config, raw=series)
            series = series.drop(columns="drift_explained").merge(
                drift[[*SERIES_KEYS, "drift_explained"]], on=SERIES_KEYS, how="left"
            )
        out.append(
            series[
                [
                    *SERIES_KEYS,
                    "metric",
                    "status",
                    "newest_flagged",
                    "newest_magnitude",
                    "newest_p_value",
                    "drift_explained",
                ]
            ]
        )
    return pd.concat(out, ignore_index=True)


def knob_effects(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each change against its mesh unchanged in the same rounds: a paired comparison per metric."""
    index = _index(records)
    rows = []
    for mesh, variant in changes_in(records):
        for qps in sorted({r["qps"] for r in records}):
            rounds = sorted(rnd for rnd, m, q, v in index if m == mesh and q == qps and v == variant)
            pairs = [(index[(r, mesh, qps, variant)], index.get((r, mesh, qps, UNCHANGED))) for r in rounds]
            pairs = [(a, b) for a, b in pairs if b is not None]
            for metric in DETECT_METRICS:
                changed = [metric_value(a, metric) for a, _ in pairs]
                unchanged = [metric_value(b, metric) for _, b in pairs]
                if not pairs or not any(v > 0 for v in unchanged):
                    continue
                cmp = paired_comparison(changed, unchanged)
                rows.append(
                    {
                        "mesh": mesh,
                        "variant": variant,
                        "qps": qps,
                        "metric": metric,
                        "pairs": cmp.n_a,
                        "change": cmp.estimate,
                        "lower": cmp.lower,
                        "upper": cmp.upper,
                        "p_value": cmp.p_value,
                    }
                )
    return rows


def evaluate(
    records: Iterable[dict[str, Any]],
    *,
    reps_per_night: int,
    history_nights: int | None = None,
    mode: str = "permuted",
    orders: int = 1,
    seed: int = 10,
    config: ChangePointConfig | None = None,
) -> dict[str, Any]:
    """False alarms and power over every composed trial (see the module doc).

    `history_nights` defaults to every other block (permuted) or half the blocks (recorded).
    """
    config = config or ChangePointConfig()
    ok = recorded(records)
    blocks = blocks_of(ok, reps_per_night)
    if len(blocks) < 2:
        raise ValueError(f"{len(blocks)} night(s) of {reps_per_night} rounds recorded; need at least 2")
    if history_nights is None:
        history_nights = len(blocks) - 1 if mode == "permuted" else len(blocks) // 2
    trials = compose_trials(len(blocks), history_nights, mode=mode, orders=orders, seed=seed)
    index = _index(ok)
    changes = changes_in(ok)
    no_change: list[dict[str, Any]] = []
    changed: dict[tuple[str, str], list[pd.DataFrame]] = {c: [] for c in changes}
    for trial in trials:
        flags = detect_trial(trial_frame(ok, blocks, trial, index=index), config)
        raw = flags["newest_flagged"].astype(bool)
        drift = flags["drift_explained"].fillna(False).astype(bool)
        columns = [*SERIES_KEYS, "metric", "newest_magnitude", "newest_p_value"]
        no_change.append(
            {
                "test": trial.test,
                "history": list(trial.history),
                "series": len(flags),
                "flagged": flags.loc[raw & ~drift, columns].to_dict(orient="records"),
                "explained_by_drift": flags.loc[raw & drift, columns].to_dict(orient="records"),
            }
        )
        for change in changes:
            result = detect_trial(trial_frame(ok, blocks, trial, change, index=index), config)
            changed[change].append(result.assign(test=trial.test))
    series_per_night = max((t["series"] for t in no_change), default=0)
    false_flags = sum(len(t["flagged"]) for t in no_change)
    power_rows = []
    other_flags: dict[str, int] = {}
    for (mesh, variant), results in changed.items():
        every = pd.concat(results, ignore_index=True)
        reported = every["newest_flagged"].astype(bool) & ~every["drift_explained"].fillna(False).astype(bool)
        hit = reported & (every["newest_magnitude"].fillna(0) > 0)
        own = every["mesh"] == mesh
        other_flags[variant] = int((reported & ~own).sum())
        mine = every.assign(hit=hit)[own]
        for (qps, metric), group in mine.groupby(["qps", "metric"], sort=True):
            power_rows.append(
                {
                    "mesh": mesh,
                    "variant": variant,
                    "qps": qps,
                    "metric": metric,
                    "trials": len(group),
                    "flagged": int(group["hit"].sum()),
                    "test_nights_flagged": int(group.groupby("test")["hit"].any().sum()),
                    "test_nights": int(group["test"].nunique()),
                    "median_magnitude": float(group["newest_magnitude"].median()),
                }
            )
    return {
        "reps_per_night": reps_per_night,
        "nights_recorded": len(blocks),
        "history_nights": history_nights,
        "mode": mode,
        "orders": orders if mode == "permuted" else 1,
        "trials": len(trials),
        "distinct_test_nights": len({t.test for t in trials}),
        "config": config.as_dict(),
        "false_alarms": {
            "series_per_night": series_per_night,
            "flagged_series": false_flags,
            "series_nights": sum(t["series"] for t in no_change),
            "per_30_nights": 30 * false_flags / len(trials),
            "flags": [dict(f, test=t["test"]) for t in no_change for f in t["flagged"]],
            # Raw flags the drift check explained by the machine's speed (listed apart by the report).
            "explained_by_drift": sum(len(t["explained_by_drift"]) for t in no_change),
            "per_30_nights_without_drift_check": 30
            * sum(len(t["flagged"]) + len(t["explained_by_drift"]) for t in no_change)
            / len(trials),
            "drift_flags": [dict(f, test=t["test"]) for t in no_change for f in t["explained_by_drift"]],
            "changed_nights_other_meshes_flagged": other_flags,
        },
        "power": power_rows,
        "effects": knob_effects(ok),
    }
