"""The fidelity benchmark's analysis: CVs, median CIs, paired ratios and effects, and the printed report.

Pure functions over the JSON records `bench_fidelity` writes (one per repetition); nothing here
runs the testbed. `report(records)` summarises whatever stages the records come from.
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from scipy import stats

from benchmarks import fidelity_detect
from meshmark_tasks.stats import median_ci, speed_adjusted_median

METRICS = ("p50_ms", "p99_ms", "cpu_dataplane", "cpu_app")
CI_REPETITIONS = (6, 8, 10, 12, 15, 20, 30, 40, 45)
# The metrics meshmark_summary also gives speed-adjusted (schemas.SUMMARY_ADJUSTED_METRICS).
ADJUSTED_METRICS = ("p50_ms", "p99_ms", "cpu_dataplane")
# Random n-subsets per n for the typical adjusted half-width (a regression each, so fewer than raw).
ADJUSTED_DRAWS = 100


# -- statistics -----------------------------------------------------------------------------------
def cv_percent(values: Sequence[float]) -> float:
    if len(values) < 2 or statistics.fmean(values) == 0:
        return math.nan
    return 100 * statistics.stdev(values) / statistics.fmean(values)


def median_ci_half_width_percent(values: Sequence[float], confidence: float = 0.95) -> float:
    """Half-width of the median's CI (meshmark_tasks.stats.median_ci, the one the tables show), in %
    of the median; nan where the level cannot be reached (fewer than 6 values at 95 %)."""
    if len(values) < 2:
        return math.nan
    ci = median_ci(list(values), level=confidence)
    if not ci.level_reached or ci.rel_half_width is None:
        return math.nan
    return 100 * ci.rel_half_width


def _typical_width(
    half_width: Callable[[list[int]], float], size: int, n: int, draws: int, rng: random.Random
) -> float:
    """The median of `half_width` over `draws` random n-subsets (as positions) of `size` repetitions."""
    widths = [half_width(rng.sample(range(size), n)) for _ in range(draws)]
    finite = [w for w in widths if math.isfinite(w)]
    return statistics.median(finite) if finite else math.nan


def typical_ci_half_width_percent(values: Sequence[float], n: int, draws: int = 200, seed: int = 10) -> float:
    """Median CI half-width over random n-subsets of `values`: what n repetitions typically get."""
    items = list(values)
    return _typical_width(
        lambda subset: median_ci_half_width_percent([items[i] for i in subset]),
        len(items),
        n,
        draws,
        random.Random(seed),
    )


def adjusted_half_width_percent(values: Sequence[float], speeds: Sequence[float]) -> float:
    """Half-width of the speed-adjusted median's CI (stats.speed_adjusted_median, as meshmark_summary
    stores it), in % of that median; nan where there is none (fewer than 8 repetitions)."""
    result = speed_adjusted_median(list(values), list(speeds))
    return math.nan if result is None else 100 * result.rel_half_width


def _adjusted_row(mesh: str, qps: Any, metric: str, points: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """One series' speed-adjusted CI half-widths: (value, app CPU per request) per repetition, in order."""
    values, speeds = [v for v, _ in points], [s for _, s in points]
    rng = random.Random(10)  # one generator for every n, in CI_REPETITIONS order

    def subset_width(subset: list[int]) -> float:
        return adjusted_half_width_percent([values[i] for i in subset], [speeds[i] for i in subset])

    result = speed_adjusted_median(values, speeds)
    return {
        "mesh": mesh,
        "qps": qps,
        "metric": f"{metric} adj.",
        "n": len(values),
        "slope": math.nan if result is None else result.slope,
        "median": math.nan if result is None else result.median,
        "ci_half_width_percent": {
            n: adjusted_half_width_percent(values[:n], speeds[:n]) for n in CI_REPETITIONS if n <= len(values)
        },
        "typical_ci_half_width_percent": {
            n: _typical_width(subset_width, len(points), n, ADJUSTED_DRAWS, rng)
            for n in CI_REPETITIONS
            if n < len(values)
        },
    }


def _metric_values(records: Iterable[dict[str, Any]], metric: str) -> list[float]:
    return [float(r[metric]) for r in records if r.get("failure") is None and r.get(metric) is not None]


def _relevant(mesh: str, metric: str, records: Sequence[dict[str, Any]]) -> bool:
    # The baseline has no data plane (exactly 0.0): its CPU series is the app's.
    return not (metric == "cpu_dataplane" and all(r.get(metric) in (0, 0.0, None) for r in records))


def _series_row(
    mesh: str, qps: Any, metric: str, points: Sequence[tuple[float, float | None]]
) -> dict[str, Any]:
    """One series of a night: (value, CPU other work used in that window) per repetition, in order."""
    values = [v for v, _ in points]
    others = [(v, o) for v, o in points if o is not None]
    follows_load = math.nan
    if len(others) >= 5 and len({o for _, o in others}) > 1:
        follows_load = float(stats.spearmanr(*zip(*others, strict=True)).statistic)
    return {
        "mesh": mesh,
        "qps": qps,
        "metric": metric,
        "n": len(values),
        # Spearman correlation with the CPU other work used during the window.
        "rho_vs_other_load": follows_load,
        "median": statistics.median(values) if values else math.nan,
        "cv_percent": cv_percent(values),
        # What a night of its first n rounds reported ...
        "ci_half_width_percent": {
            n: median_ci_half_width_percent(values[:n]) for n in CI_REPETITIONS if n <= len(values)
        },
        # ... and the typical value over random n-subsets of the night's rounds (steadier).
        "typical_ci_half_width_percent": {
            n: typical_ci_half_width_percent(values, n) for n in CI_REPETITIONS if n < len(values)
        },
    }


# Per-round ratios of a mesh to the baseline measured in the same round: how overheads are paired.
PAIRED_METRICS: dict[str, Callable[[dict[str, Any], dict[str, Any]], float]] = {
    "p50_ms/baseline": lambda mesh, base: mesh["p50_ms"] / base["p50_ms"],
    "p99_ms/baseline": lambda mesh, base: mesh["p99_ms"] / base["p99_ms"],
    "cpu_total/baseline": lambda mesh, base: (mesh["cpu_app"] + mesh["cpu_dataplane"]) / base["cpu_app"],
}


def _app_ms_per_request(r: dict[str, Any]) -> float:
    return 1000 * r["cpu_seconds_app"] / r["requests"]


# Per-cell ratios to the app's own CPU per request in the same window: the app does the same work
# per request in every configuration and runs on the same CPU, so it measures how fast the machine
# was during that window (other users' load slows every process on the CPU alike).
SPEED_NORMALISED: dict[str, Callable[[dict[str, Any]], float]] = {
    "p50_ms/app_cpu_ms_per_req": lambda r: r["p50_ms"] / _app_ms_per_request(r),
    "p99_ms/app_cpu_ms_per_req": lambda r: r["p99_ms"] / _app_ms_per_request(r),
    "cpu_dataplane/cpu_app": lambda r: r["cpu_dataplane"] / r["cpu_app"],
}


def summarise_night(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    ok = [r for r in sorted(records, key=lambda r: r["seq"]) if r.get("failure") is None]
    groups: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for r in ok:
        groups.setdefault((r["mesh"], r["qps"]), []).append(r)
    rows = []
    for (mesh, qps), group in groups.items():
        for metric in METRICS:
            if _relevant(mesh, metric, group):
                points = [
                    (float(r[metric]), r.get("other_busy_cores")) for r in group if r.get(metric) is not None
                ]
                rows.append(_series_row(mesh, qps, metric, points))
    for (mesh, qps), group in groups.items():
        for metric, normalised in SPEED_NORMALISED.items():
            if metric.startswith("cpu_dataplane") and not _relevant(mesh, "cpu_dataplane", group):
                continue
            rows.append(
                _series_row(mesh, qps, metric, [(normalised(r), None) for r in group if r["cpu_app"]])
            )
    for (mesh, qps), group in groups.items():
        for metric in ADJUSTED_METRICS:
            if _relevant(mesh, metric, group):
                points = [
                    (float(r[metric]), _app_ms_per_request(r))
                    for r in group
                    if r.get(metric) and r["requests"]
                ]
                rows.append(_adjusted_row(mesh, qps, metric, points))
    baselines = {(r["qps"], r["round"]): r for r in ok if r["measurement"]["cell"]["is_baseline"]}
    for (mesh, qps), group in groups.items():
        paired = [(r, baselines[(qps, r["round"])]) for r in group if (qps, r["round"]) in baselines]
        if not paired or group[0]["measurement"]["cell"]["is_baseline"]:
            continue
        for metric, ratio in PAIRED_METRICS.items():
            rows.append(_series_row(mesh, qps, metric, [(ratio(m, b), None) for m, b in paired]))
    return rows


CPU_METHODS: dict[str, tuple[str, str]] = {
    # name: (CPU seconds field prefix, denominator field)
    "ticks/sampler-window": ("cpu_seconds_ticks_", "sampler_window_s"),
    "ticks/load-duration": ("cpu_seconds_ticks_", "loadgen_duration_s"),
    "clock/sampler-window": ("cpu_seconds_", "sampler_window_s"),
    "clock/load-duration": ("cpu_seconds_", "loadgen_duration_s"),
}


def summarise_cpu_methods(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """CV of cores under each way of reading CPU, on the same repetitions (nothing re-run)."""
    groups: dict[tuple[str, str, Any], list[dict[str, Any]]] = {}
    for r in records:
        if r.get("failure") is None and r.get("cpu_seconds_ticks_app") is not None:
            group = {
                "night": r.get("label"),
                "record": f"{r.get('label')}/{r.get('variant')}",
            }.get(r["stage"], f"{r.get('step')}/{r.get('variant')}")
            groups.setdefault((group, r["mesh"], r["qps"]), []).append(r)
    rows = []
    for (group, mesh, qps), members in sorted(groups.items(), key=str):
        for role in ("dataplane", "app"):
            if not any(m[f"cpu_seconds_{role}"] for m in members):
                continue
            cvs = {
                method: cv_percent([m[f"{prefix}{role}"] / m[denominator] for m in members])
                for method, (prefix, denominator) in CPU_METHODS.items()
            }
            rows.append(
                {"group": group, "mesh": mesh, "qps": qps, "role": role, "n": len(members), "cv_percent": cvs}
            )
    return rows


def summarise_pairs(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """A/B records (variant "A"/"B", same round and cell) to per-metric CVs and pair ratios B/A."""
    by_key: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}
    for r in records:
        if r.get("failure") is None:
            by_key.setdefault((r["step"], r["mesh"], r["qps"], r["round"]), {})[r["variant"]] = r
    rows = []
    for step, mesh, qps in sorted({k[:3] for k in by_key}, key=str):
        pairs = [v for k, v in sorted(by_key.items(), key=str) if k[:3] == (step, mesh, qps) and len(v) == 2]
        for metric in METRICS:
            a = [p["A"][metric] for p in pairs if p["A"].get(metric) is not None]
            b = [p["B"][metric] for p in pairs if p["B"].get(metric) is not None]
            if not a or not b or all(v == 0 for v in a + b):
                continue
            ratios = [pb / pa for pa, pb in zip(a, b, strict=True) if pa]
            rows.append(
                {
                    "step": step,
                    "mesh": mesh,
                    "qps": qps,
                    "metric": metric,
                    "pairs": len(ratios),
                    "median_a": statistics.median(a),
                    "median_b": statistics.median(b),
                    "cv_a_percent": cv_percent(a),
                    "cv_b_percent": cv_percent(b),
                    "cv_ratio_b_to_a": cv_percent(b) / cv_percent(a) if cv_percent(a) else math.nan,
                    "median_pair_ratio_b_to_a": statistics.median(ratios) if ratios else math.nan,
                }
            )
    return rows


def read_jsonl(paths: Iterable[Path]) -> list[dict[str, Any]]:
    records = []
    for path in paths:
        with path.open(encoding="utf-8") as fh:
            records.extend(json.loads(line) for line in fh if line.strip())
    return records


def summarise_compare(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per configuration: median and CV; against the first configuration: the median pair ratio."""
    rows = []
    by: dict[tuple[str, str, Any], dict[int, dict[str, dict[str, Any]]]] = {}
    for r in records:
        if r.get("failure") is None:
            by.setdefault((r["label"], r["mesh"], r["qps"]), {}).setdefault(r["round"], {})[r["variant"]] = r
    for (label, mesh, qps), rounds in sorted(by.items(), key=str):
        names = next(r for rnd in rounds.values() for r in rnd.values())["configs"]
        reference = names[0]
        for metric in METRICS:
            for name in names:
                values = [rnd[name][metric] for rnd in rounds.values() if name in rnd]
                if not values or all(v == 0 for v in values):
                    continue
                ratios = [
                    rnd[name][metric] / rnd[reference][metric]
                    for rnd in rounds.values()
                    if name in rnd and reference in rnd and rnd[reference][metric]
                ]
                rows.append(
                    {
                        "label": label,
                        "mesh": mesh,
                        "qps": qps,
                        "metric": metric,
                        "config": name,
                        "n": len(values),
                        "median": statistics.median(values),
                        "cv_percent": cv_percent(values),
                        "reference": reference,
                        "median_pair_ratio": statistics.median(ratios) if ratios else math.nan,
                    }
                )
    return rows


def summarise_record(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A recording's unchanged cells as one night (CVs, CIs for n rounds), and each change's effect."""
    unchanged = [r for r in records if r["variant"] == fidelity_detect.UNCHANGED]
    return {
        "night": summarise_night(unchanged),
        "effects": fidelity_detect.knob_effects(fidelity_detect.recorded(records)),
        "rounds": len({r["round"] for r in records}),
        "window_s": sorted({r["window_s"] for r in records}),
    }


def _effect_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = ["changes vs the same mesh unchanged in the same rounds (paired, log scale): change [95 % CI]"]
    for row in rows:
        ci = "" if row["lower"] is None else f" [{100 * row['lower']:+.1f}, {100 * row['upper']:+.1f}]"
        p = "" if row["p_value"] is None else f" p={row['p_value']:.2g}"
        lines.append(
            f"  {row['variant']:>20} {row['mesh']:>8} q{_fmt(row['qps'], 0):>4} {row['metric']:>13}:"
            f" {100 * row['change']:+.1f} %{ci}{p} ({row['pairs']} pairs)"
        )
    return lines


def detect_lines(result: dict[str, Any]) -> list[str]:
    fa = result["false_alarms"]
    lines = [
        f"detect: nights of {result['reps_per_night']} rounds, {result['nights_recorded']} recorded;"
        f" history {result['history_nights']} nights ({result['mode']}, {result['orders']} order(s));"
        f" {result['trials']} trials over {result['distinct_test_nights']} distinct test nights",
        f"  false alarms: {fa['flagged_series']} flagged of {fa['series_nights']} series-nights"
        f" ({fa['series_per_night']} series a night) = {fa['per_30_nights']:.2f} per 30 nights;"
        f" other meshes on changed nights: {fa['changed_nights_other_meshes_flagged']}",
        f"  explained by machine drift (listed apart by the report): {fa['explained_by_drift']};"
        f" without the drift check {fa['per_30_nights_without_drift_check']:.2f} per 30 nights",
    ]
    for kind, flags in (("flagged", fa["flags"]), ("drift", fa["drift_flags"])):
        lines += [
            f"    {kind}: test night {f['test']} {f['mesh']} q{_fmt(f['qps'], 0)} {f['metric']}"
            f" {100 * f['newest_magnitude']:+.1f} % p={f['newest_p_value']:.2g}"
            for f in flags
        ]
    for row in result["power"]:
        lines.append(
            f"  power {row['variant']:>20} {row['mesh']:>8} q{_fmt(row['qps'], 0):>4} {row['metric']:>13}:"
            f" {row['flagged']}/{row['trials']} trials, {row['test_nights_flagged']}/{row['test_nights']}"
            f" test nights (median newest change {100 * row['median_magnitude']:+.1f} %)"
        )
    return lines


def _getter(metric: str) -> Callable[[dict[str, Any]], float]:
    if metric in SPEED_NORMALISED:
        return SPEED_NORMALISED[metric]
    return lambda r: float(r[metric])


def summarise_knob(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per variant and metric: the median of the per-round ratios changed / unchanged, in %."""
    by_round: dict[int, dict[str, dict[str, Any]]] = {}
    for r in records:
        if r.get("failure") is None:
            by_round.setdefault(r["round"], {})[r["variant"]] = r
    variants = sorted({v for rnd in by_round.values() for v in rnd if v != "unchanged"})
    rows = []
    for variant in variants:
        for metric in (*METRICS, *SPEED_NORMALISED):
            value = _getter(metric)
            rounds = [rnd for rnd in by_round.values() if variant in rnd and "unchanged" in rnd]
            ratios = [
                value(rnd[variant]) / value(rnd["unchanged"]) for rnd in rounds if value(rnd["unchanged"])
            ]
            changed = [value(rnd[variant]) for rnd in rounds]
            unchanged = [value(rnd["unchanged"]) for rnd in rounds]
            rows.append(
                {
                    "variant": variant,
                    "metric": metric,
                    "pairs": len(ratios),
                    "median_unchanged": statistics.median(unchanged) if unchanged else math.nan,
                    "median_changed": statistics.median(changed) if changed else math.nan,
                    "median_change_percent": 100 * (statistics.median(ratios) - 1) if ratios else math.nan,
                    "cv_of_ratio_percent": cv_percent(ratios),
                }
            )
    return rows


# -- reporting ------------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 1) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _night_lines(label: str, rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = [f"night {label}: CV; 95 % CI half-width of the median in % (this night's first n / typical)"]
    for row in rows:
        ci = " ".join(
            f"n{n}:{_fmt(v)}/{_fmt(row['typical_ci_half_width_percent'].get(n, math.nan))}"
            for n, v in row["ci_half_width_percent"].items()
        )
        spread = (
            f"slope {_fmt(row['slope'], 2)}"
            if "slope" in row
            else f"CV {_fmt(row['cv_percent'])} %  rho(others) {_fmt(row['rho_vs_other_load'], 2)}"
        )
        lines.append(
            f"  {row['mesh']:>14} q{_fmt(row['qps'], 0):>4} {row['metric']:>13}: median"
            f" {row['median']:.4g}  {spread}  CI± {ci}"
        )
    return lines


def _step_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = ["steps (A = before, B = after; interleaved pairs): CV A -> B, median pair ratio B/A"]
    for row in rows:
        lines.append(
            f"  {row['step']:>26} {row['mesh']:>13} {row['metric']:>13}: CV {_fmt(row['cv_a_percent'])}"
            f" -> {_fmt(row['cv_b_percent'])} %  (x{_fmt(row['cv_ratio_b_to_a'], 2)}),"
            f" median {row['median_a']:.4g} -> {row['median_b']:.4g}"
            f" (pair ratio {_fmt(row['median_pair_ratio_b_to_a'], 3)}, {row['pairs']} pairs)"
        )
    return lines


def _knob_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = ["change knob vs the unchanged sidecar (median pair-by-pair change)"]
    for row in rows:
        lines.append(
            f"  {row['variant']:>18} {row['metric']:>13}: {row['median_unchanged']:.4g} -> "
            f"{row['median_changed']:.4g}  ({_fmt(row['median_change_percent'])} %, {row['pairs']} pairs)"
        )
    return lines


def _cpu_method_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = ["CPU reading methods on the same repetitions: CV % (ticks = psutil 10 ms ticks, clock = ns)"]
    for row in rows:
        cvs = "  ".join(f"{method} {_fmt(cv)}" for method, cv in row["cv_percent"].items())
        lines.append(f"  {row['group']:>30} {row['mesh']:>13} {row['role']:>9}: {cvs}")
    return lines


def _compare_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = ["configurations round-robin: median, CV, median pair ratio to the first configuration"]
    for row in rows:
        lines.append(
            f"  {row['mesh']:>13} {row['metric']:>13} {row['config']:>22}: median {row['median']:.4g}"
            f"  CV {_fmt(row['cv_percent'])} %  x{_fmt(row['median_pair_ratio'], 3)} vs {row['reference']}"
            f" (n={row['n']})"
        )
    return lines


def report(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    loads = [r["load_average_1m"] for r in records if r.get("load_average_1m") is not None]
    load = {"median": statistics.median(loads), "max": max(loads)} if loads else None
    result: dict[str, Any] = {
        "records": len(records),
        "failed": sum(1 for r in records if r.get("failure")),
        "load_average_1m": load,
        "cpu_count": os.cpu_count(),
    }
    lines = [
        f"{len(records)} repetitions ({result['failed']} failed) on {os.cpu_count()} CPUs,"
        f" 1-min load average median {_fmt(load['median'], 2) if load else '?'}"
    ]
    nights = [r for r in records if r.get("stage") == "night"]
    for label, night in sorted({(r["label"], r.get("night", 0)) for r in nights}):
        key = label if night == 0 else f"{label}, night {night}"
        rows = summarise_night([r for r in nights if r["label"] == label and r.get("night", 0) == night])
        result.setdefault("nights", {})[key] = rows
        lines += _night_lines(key, rows)
    pairs = [r for r in records if r.get("stage") == "steps"]
    if pairs:
        result["steps"] = summarise_pairs(pairs)
        lines += _step_lines(result["steps"])
    compared = [r for r in records if r.get("stage") == "compare"]
    if compared:
        result["compare"] = summarise_compare(compared)
        lines += _compare_lines(result["compare"])
    recorded = [r for r in records if r.get("stage") == "record"]
    for label in sorted({r["label"] for r in recorded}):
        summary = summarise_record([r for r in recorded if r["label"] == label])
        result.setdefault("recordings", {})[label] = summary
        lines += _night_lines(f"record {label} (unchanged cells)", summary["night"])
        lines += _effect_lines(summary["effects"])
    knob = [r for r in records if r.get("stage") == "knob"]
    if knob:
        result["knob"] = summarise_knob(knob)
        lines += _knob_lines(result["knob"])
    result["cpu_methods"] = summarise_cpu_methods(records)
    lines += _cpu_method_lines(result["cpu_methods"])
    result["text"] = "\n".join(lines)
    return result
