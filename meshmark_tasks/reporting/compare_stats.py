"""The statistics of one comparison (reporting/compare.py reads the runs): which metrics, on which
scale, each side's median with its CI, the change with its CI and test, the night-to-night term,
Benjamini-Hochberg significance and the verdict. Pure functions of the repetitions' values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from meshmark_tasks.stats import ChangePointConfig, detect_frame, median_ci, two_sample_comparison

Scale = Literal["log", "linear"]
MIB = 2**20


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str
    table: str  # "results" or "meshmark"
    column: str  # the table's column
    scale: Scale
    higher_is_worse: bool
    factor: float = 1.0  # column value × factor = the metric in `unit`


METRICS: tuple[Metric, ...] = (
    Metric("latency_ms_p50", "p50", "ms", "results", "latency_ms_p50", "log", True),
    Metric("latency_ms_p99", "p99", "ms", "results", "latency_ms_p99", "log", True),
    Metric("actual_qps", "achieved QPS", "req/s", "results", "actual_qps", "log", False),
    Metric("cpu_cores_dataplane", "data-plane CPU", "cores", "results", "cpu_cores_dataplane", "log", True),
    Metric(
        "mem_mib_dataplane",
        "data-plane memory",
        "MiB",
        "results",
        "mem_bytes_dataplane",
        "log",
        True,
        1 / MIB,
    ),
    Metric("meshmark", "MeshMark", "points", "meshmark", "meshmark", "linear", False),
    Metric("delta_p50_ms", "Δ p50 vs baseline", "ms", "meshmark", "delta_p50_ms", "linear", True),
    Metric("delta_p99_ms", "Δ p99 vs baseline", "ms", "meshmark", "delta_p99_ms", "linear", True),
    Metric(
        "delta_cpu_cores_per_kqps",
        "Δ CPU vs baseline",
        "cores per 1k QPS",
        "meshmark",
        "delta_cpu_cores_per_kqps",
        "linear",
        True,
    ),
    Metric("delta_mem_mib", "Δ memory vs baseline", "MiB", "meshmark", "delta_mem_mib", "linear", True),
)


def load_point_label(requested_qps: Any, connections: Any, payload_bytes: Any, protocol: Any) -> str:
    """A load point as a label, e.g. "1000 qps · 8 conn · 1024 B · http" (the series key here)."""
    qps = "max" if missing(requested_qps) else f"{float(requested_qps):g}"
    conns = "?" if missing(connections) else int(connections)
    payload = "?" if missing(payload_bytes) else int(payload_bytes)
    return f"{qps} qps · {conns} conn · {payload} B · {protocol}"


def missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True)
class LoadPoint:
    label: str
    requested_qps: float | None
    connections: int | None
    payload_bytes: int | None
    protocol: str | None


# -- night-to-night variation ---------------------------------------------------------------------


SeriesKey = tuple[str, str, str, Scale]  # mesh, load point label, metric, scale


def night_sd_of(history: pd.DataFrame, wanted: set[SeriesKey]) -> dict[SeriesKey, float]:
    """Night-to-night sd of each wanted series (`detect_frame`'s sigma_between, pooled across the
    series of a metric). `history`: one row per cell with `mesh`, `point` (the load point's label),
    `night` (the run's position) and each metric's column."""
    out: dict[SeriesKey, float] = {}
    for metric_name, scale in sorted({(key[2], key[3]) for key in wanted}):
        series = {(key[0], key[1]) for key in wanted if key[2] == metric_name and key[3] == scale}
        values = history[["mesh", "point", "night", metric_name]].dropna()
        keep = [(m, p) in series for m, p in zip(values["mesh"], values["point"], strict=True)]
        values = values[keep]
        if scale == "log":
            values = values[values[metric_name] > 0]
        if values.empty:
            continue
        # A series that never varies has no night variance to estimate; the detector then works
        # with the smallest float, which numpy warns about.
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            detected = detect_frame(
                values, ["mesh", "point"], "night", metric_name, ChangePointConfig(scale=scale)
            )
        for row in detected.series.to_dict("records"):
            sd = row["sigma_between"]
            if row["status"] == "ok" and sd is not None and not math.isnan(sd):
                out[(str(row["mesh"]), str(row["point"]), metric_name, scale)] = float(sd)
    return out


# -- rows ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cell:
    """One (mesh pair, load point, metric) to compare: both sides' repetitions."""

    metric: Metric
    scale: Scale
    mesh_a: str
    mesh_b: str
    point: LoadPoint
    a: np.ndarray
    b: np.ndarray

    @property
    def tested(self) -> bool:
        return self.a.size >= 2 and self.b.size >= 2

    @property
    def series_keys(self) -> tuple[SeriesKey, SeriesKey]:
        name, label = self.metric.name, self.point.label
        return (self.mesh_a, label, name, self.scale), (self.mesh_b, label, name, self.scale)

    def row(self, night_sd: dict[SeriesKey, float], level: float) -> dict[str, Any]:
        sd_a, sd_b = (night_sd.get(key) for key in self.series_keys)
        # Each side carries its own night's deviation: var = σ_A² + σ_B² = 2·between_sd².
        sd = None if sd_a is None or sd_b is None else math.sqrt((sd_a**2 + sd_b**2) / 2)
        return _row(self.metric, self.scale, self.mesh_a, self.mesh_b, self.point, self.a, self.b, sd, level)


def cells_to_compare(
    pairs: list[tuple[str, str]], points: list[LoadPoint], values_a: pd.DataFrame, values_b: pd.DataFrame
) -> tuple[list[_Cell], list[str]]:
    cells: list[_Cell] = []
    seen_metrics: set[str] = set()
    for mesh_a, mesh_b in pairs:
        for point in points:
            cells_a = values_a[(values_a["mesh"] == mesh_a) & (values_a["point"] == point.label)]
            cells_b = values_b[(values_b["mesh"] == mesh_b) & (values_b["point"] == point.label)]
            if cells_a.empty or cells_b.empty:
                continue
            for metric in METRICS:
                a = cells_a[metric.name].dropna().to_numpy(dtype=float)
                b = cells_b[metric.name].dropna().to_numpy(dtype=float)
                if a.size == 0 or b.size == 0:
                    continue
                seen_metrics.add(metric.name)
                if not (a.any() or b.any()):  # 0 on both sides: the baseline's overheads, by definition
                    continue
                scale: Scale = metric.scale
                if scale == "log" and (np.any(a <= 0) or np.any(b <= 0)):
                    scale = "linear"
                cells.append(_Cell(metric, scale, mesh_a, mesh_b, point, a, b))
    not_compared = [m.name for m in METRICS if m.name not in seen_metrics]
    return cells, not_compared


def _row(
    metric: Metric,
    scale: Scale,
    mesh_a: str,
    mesh_b: str,
    point: LoadPoint,
    a: np.ndarray,
    b: np.ndarray,
    between_sd: float | None,
    level: float,
) -> dict[str, Any]:
    comparison = two_sample_comparison(b, a, scale=scale, level=level, between_sd=between_sd)
    note = comparison.note
    if a.size < 2 or b.size < 2:
        note = f"not enough repetitions: A has {a.size}, B has {b.size}; a test needs at least 2 on each side"
    elif scale != metric.scale:
        note = "a value <= 0: compared on differences, not relative change"
    return {
        "mesh": mesh_b if mesh_a == mesh_b else f"{mesh_a} → {mesh_b}",
        "mesh_a": mesh_a,
        "mesh_b": mesh_b,
        "load_point": point.label,
        "requested_qps": point.requested_qps,
        "connections": point.connections,
        "payload_bytes": point.payload_bytes,
        "protocol": point.protocol,
        "metric": metric.name,
        "label": metric.label,
        "unit": metric.unit,
        "scale": scale,
        "higher_is_worse": metric.higher_is_worse,
        "a": _summary(a, level),
        "b": _summary(b, level),
        # log: relative change (0.12 = B is 12 % above A); linear: B − A in the metric's unit
        "change": comparison.estimate,
        "change_lower": comparison.lower,
        "change_upper": comparison.upper,
        "change_is_relative": scale == "log",
        "p_value": comparison.p_value,
        "q_value": None,
        "significant": False,
        "between_sd": between_sd,
        "noise": "repetitions and nights" if between_sd is not None else "repetitions only",
        "method": comparison.method,
        "note": note,
        "verdict": "",
    }


def _summary(values: np.ndarray, level: float) -> dict[str, Any]:
    ci = median_ci(values, level=level)
    return {
        "n": ci.n,
        "median": ci.median,
        "lower": ci.lower,
        "upper": ci.upper,
        "level": ci.level if ci.n > 1 else None,  # achieved: [min, max] of 3 covers 75 %
        "level_reached": ci.level_reached,
        "note": ci.note,
    }


def adjust(rows: list[dict[str, Any]], alpha: float) -> None:
    """Benjamini-Hochberg q-values over the tested rows; the verdict of every row."""
    tested = [r for r in rows if r["p_value"] is not None]
    if tested:
        q = scipy_stats.false_discovery_control([r["p_value"] for r in tested], method="bh")
        for row, value in zip(tested, q, strict=True):
            row["q_value"] = float(value)
            row["significant"] = bool(value < alpha)
    for row in rows:
        row["verdict"] = _verdict(row)


def _verdict(row: dict[str, Any]) -> str:
    if row["p_value"] is None:
        note = row["note"] or ""
        return "not enough repetitions" if note.startswith("not enough repetitions") else "no test"
    if not row["significant"]:
        return "no significant change"
    up = (row["change"] or 0) > 0
    return "worse" if up == row["higher_is_worse"] else "better"
