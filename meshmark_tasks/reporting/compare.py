"""Run A against run B: per load point and metric, each side's median with its CI, the change, and
whether it is significant (`meshmark compare`, and the trend report's "compare with the previous
run" page).

A side is a run id, or `mesh@run` for one mesh configuration of a run. Run against run compares
every mesh configuration the two have in common; `mesh@A` against `other@B` compares those two
(in one run too: `istio@R linkerd@R`). Only load points both sides measured are compared.

The statistics are `meshmark_tasks.stats` (docs/meshmark.md, "Uncertainty and change points"):

- each side: the median of the load point's repetitions with its distribution-free CI
  (`median_ci`); one repetition has no CI and says so;
- the change B against A: Welch's t-test on the repetitions (`two_sample_comparison`), on log
  values for latencies, rates and resources (the change is relative: +12 % = B is 12 % higher), on
  differences for MeshMark and the overhead deltas (points, ms, cores, MiB), which can be 0 or
  negative; a metric that should be on the log scale but holds a value <= 0 (the baseline's data
  plane uses no CPU) falls back to differences;
- noise: two runs are two nights, which differ by more than either night's repetitions show. For
  runs on different nights the night-to-night standard deviation of each series (mesh, load point,
  metric) is estimated from the runs of its history before and including the later side
  (`detect_frame`'s sigma_between, the last `history_runs` runs, pooled across the series of a
  metric) and passed as `between_sd`, so the test asks "did the mesh change beyond what nights
  vary". Where the history is too short for an estimate (fewer than 6 runs), the row says the test
  accounted for repetitions only. A and B in the same run: no night term applies;
- fewer than 2 repetitions on a side: the medians are shown, the change has no CI and no test,
  and the row says "not enough repetitions" rather than inventing certainty;
- a table holds many rows, so "significant" uses Benjamini-Hochberg adjusted p-values (`q_value`)
  below alpha: at most about alpha of the rows called significant are false discoveries.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.stats import ChangePointConfig, detect_frame, median_ci, two_sample_comparison

if TYPE_CHECKING:
    from meshmark_tasks.storage import DatasetStore, StoredRun

Scale = Literal["log", "linear"]
LOAD_POINT = ["requested_qps", "connections", "payload_bytes", "protocol"]
DEFAULT_ALPHA = 0.05
DEFAULT_LEVEL = 0.95
DEFAULT_HISTORY_RUNS = 30
MIB = 2**20
_SHOWN = 5


class CompareError(MeshmarkError):
    """The two sides cannot be compared: an unknown run or mesh, no common load point."""


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


@dataclass(frozen=True)
class Side:
    label: str  # "A" or "B"
    spec: str  # as given: a run id or mesh@run
    run_id: str
    run_date: dt.date
    mesh: str | None  # None: every mesh configuration of the run
    backend: str | None
    profile: str | None

    def describe(self) -> str:
        where = f"mesh {self.mesh} of run" if self.mesh else "run"
        extra = ", ".join(str(x) for x in (self.run_date, self.backend, self.profile) if x)
        return f"{self.label}: {where} {self.run_id} ({extra})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "run_id": self.run_id,
            "run_date": self.run_date.isoformat(),
            "mesh": self.mesh,
            "backend": self.backend,
            "profile": self.profile,
        }


@dataclass(frozen=True)
class RunComparison:
    a: Side
    b: Side
    rows: list[dict[str, Any]]
    same_run: bool
    history_runs: int  # runs of history used to estimate night-to-night variation (0: none)
    alpha: float
    level: float
    not_compared: list[str] = field(default_factory=list)  # metrics with no value on a side

    @property
    def noise(self) -> str:
        """Which noise the tests account for, in one paragraph."""
        tested = [r for r in self.rows if r["a"]["n"] >= 2 and r["b"]["n"] >= 2]
        if not tested:
            return (
                "No load point has 2 or more repetitions on both sides: the medians are shown, "
                "but no difference can be tested (not enough repetitions)."
            )
        if self.same_run:
            return (
                "A and B are the same run (one night): the tests account for the scatter of the "
                "repetitions; night-to-night variation does not apply."
            )
        with_night = sum(1 for r in tested if r["between_sd"] is not None)
        text = (
            "A and B are different runs (nights). The tests account for the scatter of the "
            "repetitions within each run"
        )
        if with_night == len(tested):
            return (
                f"{text} and for night-to-night variation, estimated per series from the last "
                f"{self.history_runs} runs of its history."
            )
        if with_night:
            return (
                f"{text}; night-to-night variation, estimated from the last {self.history_runs} runs "
                f"of history, is included for {with_night} of the {len(tested)} tested rows. The "
                "others (marked 'repetitions only') cannot tell a different night from a real change."
            )
        return (
            f"{text} only: night-to-night variation could not be estimated ({self.history_runs} runs "
            "of history; at least 6 with the series are needed). Two nights usually differ by more "
            "than their repetitions show, so read 'significant' as 'differs beyond repetition "
            "noise', not as proof that the mesh changed."
        )

    @property
    def method(self) -> str:
        tested = sum(1 for r in self.rows if r["p_value"] is not None)
        return (
            f"Per side: the median of the load point's repetitions with its {self.level:.0%} CI "
            "(order statistics). Change = B against A, Welch's t-test and its estimate: the ratio of "
            "geometric means - 1 for latencies, rates and resources (log values), the difference of "
            "means for MeshMark and the overhead deltas, so it can differ from the medians' ratio; "
            f"significant when the Benjamini-Hochberg adjusted p (q) is below {self.alpha:g} over "
            f"the {tested} tested rows."
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.a.as_dict(),
            "b": self.b.as_dict(),
            "same_run": self.same_run,
            "alpha": self.alpha,
            "level": self.level,
            "method": self.method,
            "noise": self.noise,
            "history_runs": self.history_runs,
            "counts": self.counts(),
            "not_compared": self.not_compared,
            "rows": self.rows,
        }

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.rows:
            out[row["verdict"]] = out.get(row["verdict"], 0) + 1
        return dict(sorted(out.items()))


def compare_runs(
    store: DatasetStore,
    a: str,
    b: str,
    *,
    alpha: float = DEFAULT_ALPHA,
    level: float = DEFAULT_LEVEL,
    history_runs: int = DEFAULT_HISTORY_RUNS,
) -> RunComparison:
    """Compare side `a` (a run id or mesh@run) with side `b` in `store`; see the module doc."""
    runs = store.runs("results")
    known = [r.run_id for r in runs]
    resolved = {"A": _resolve("A", a, known, store.root), "B": _resolve("B", b, known, store.root)}
    stored = {r.run_id: r for r in runs}
    frames = {
        label: _values(store, [run_id], stored[run_id].run_date, stored[run_id].run_date)
        for label, (run_id, _) in resolved.items()
    }
    side_a = _side("A", a, resolved["A"], frames["A"], stored)
    side_b = _side("B", b, resolved["B"], frames["B"], stored)
    pairs = _mesh_pairs(side_a, side_b, frames["A"], frames["B"])
    values_a = frames["A"][frames["A"]["mesh"].isin({p[0] for p in pairs})]
    values_b = frames["B"][frames["B"]["mesh"].isin({p[1] for p in pairs})]
    points = _common_load_points(side_a, side_b, values_a, values_b, pairs)
    same_run = side_a.run_id == side_b.run_id
    cells, not_compared = _cells(pairs, points, values_a, values_b)
    night_sd: dict[SeriesKey, float] = {}
    used_runs = 0
    # Night-to-night variation matters only where a test is possible (2+ repetitions a side) and
    # the sides are different nights; estimating it costs a detector pass per series.
    wanted = {key for cell in cells if cell.tested for key in cell.series_keys}
    if not same_run and wanted:
        later = max(stored[side_a.run_id], stored[side_b.run_id])
        window = [r for r in runs if r <= later][-history_runs:]
        used_runs = len(window)
        night_sd = _night_sd(store, window, wanted)
    rows = [cell.row(night_sd, level) for cell in cells]
    _adjust(rows, alpha)
    return RunComparison(side_a, side_b, rows, same_run, used_runs, alpha, level, not_compared)


# -- sides -----------------------------------------------------------------------------------------


def _resolve(label: str, spec: str, known: Sequence[str], root: str) -> tuple[str, str | None]:
    """(run id, mesh or None) of a side: a known run id as given, else mesh@run."""
    if spec in known:
        return spec, None
    hint = "; a side is RUN or MESH@RUN"
    if "@" in spec:
        mesh, run_id = spec.split("@", 1)
        if mesh and run_id in known:
            return run_id, mesh
        if mesh and run_id:
            raise CompareError(f"{label} {spec}: {no_such_run(run_id, known, root, hint)}")
    raise CompareError(f"{label} {spec}: {no_such_run(spec, known, root, hint)}")


def no_such_run(run_id: str, known: Sequence[str], root: str, hint: str = "") -> str:
    """Why `run_id` cannot be used, listing the newest runs the store has (`export smp` says it too)."""
    if not known:
        return f"no such run {run_id!r}: the store under {root} holds no runs"
    newest = ", ".join(reversed(known[-_SHOWN:]))
    more = f" and {len(known) - _SHOWN} more" if len(known) > _SHOWN else ""
    return f"no such run {run_id!r} under {root} (newest runs: {newest}{more}{hint})"


def _side(
    label: str,
    spec: str,
    resolved: tuple[str, str | None],
    values: pd.DataFrame,
    stored: dict[str, StoredRun],
) -> Side:
    run_id, mesh = resolved
    if values.empty:
        raise CompareError(f"{label} {spec}: run {run_id} has no results row (every cell was quarantined)")
    if mesh is not None and mesh not in set(values["mesh"]):
        meshes = ", ".join(sorted(set(values["mesh"])))
        raise CompareError(f"{label} {spec}: run {run_id} has no mesh {mesh!r} (its meshes: {meshes})")
    return Side(
        label,
        spec,
        run_id,
        stored[run_id].run_date,
        mesh,
        _single(values, "backend"),
        _single(values, "profile"),
    )


def _single(frame: pd.DataFrame, column: str) -> str | None:
    found = frame[column].dropna().unique()
    return str(found[0]) if len(found) == 1 else None


def _values(store: DatasetStore, run_ids: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
    """One row per cell of the runs: run, identity, load point (`point`: its label), repetition and
    every metric's value in its unit. `start`/`end` prune the partitions read."""
    result_columns = sorted({m.column for m in METRICS if m.table == "results"})
    score_columns = sorted({m.column for m in METRICS if m.table == "meshmark"})
    results = store.read_history(
        "results",
        start=start,
        end=end,
        run_ids=run_ids,
        columns=[
            "run_id",
            "cell_id",
            "mesh",
            "profile",
            "backend",
            "repetition",
            *LOAD_POINT,
            *result_columns,
        ],
    ).to_pandas()
    scores = store.read_history(
        "meshmark", start=start, end=end, run_ids=run_ids, columns=["run_id", "cell_id", *score_columns]
    ).to_pandas()
    frame = results.merge(scores, on=["run_id", "cell_id"], how="left")
    for metric in METRICS:
        frame[metric.name] = (
            pd.to_numeric(frame[metric.column], errors="coerce").astype(float) * metric.factor
        )
    frame["point"] = [load_point_label(*p) for p in frame[LOAD_POINT].itertuples(index=False, name=None)]
    return frame


def _mesh_pairs(a: Side, b: Side, values_a: pd.DataFrame, values_b: pd.DataFrame) -> list[tuple[str, str]]:
    """(mesh of A, mesh of B) pairs to compare."""
    mesh_a, mesh_b = a.mesh or b.mesh, b.mesh or a.mesh
    if mesh_a is not None and mesh_b is not None:
        for side, mesh, values in ((a, mesh_a, values_a), (b, mesh_b, values_b)):
            if mesh not in set(values["mesh"]):
                meshes = ", ".join(sorted(set(values["mesh"])))
                raise CompareError(
                    f"{side.label} {side.spec}: run {side.run_id} has no mesh {mesh!r} (its meshes: {meshes})"
                )
        return [(mesh_a, mesh_b)]
    common = sorted(set(values_a["mesh"]) & set(values_b["mesh"]))
    if not common:
        meshes_a, meshes_b = (", ".join(sorted(set(v["mesh"]))) for v in (values_a, values_b))
        raise CompareError(
            f"A {a.spec} and B {b.spec} have no mesh configuration in common "
            f"(A: {meshes_a}; B: {meshes_b}); compare one of each with MESH@RUN"
        )
    return [(m, m) for m in common]


def load_point_label(requested_qps: Any, connections: Any, payload_bytes: Any, protocol: Any) -> str:
    """A load point as a label, e.g. "1000 qps · 8 conn · 1024 B · http" (the series key here)."""
    qps = "max" if _missing(requested_qps) else f"{float(requested_qps):g}"
    conns = "?" if _missing(connections) else int(connections)
    payload = "?" if _missing(payload_bytes) else int(payload_bytes)
    return f"{qps} qps · {conns} conn · {payload} B · {protocol}"


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True)
class LoadPoint:
    label: str
    requested_qps: float | None
    connections: int | None
    payload_bytes: int | None
    protocol: str | None


def _common_load_points(
    a: Side, b: Side, values_a: pd.DataFrame, values_b: pd.DataFrame, pairs: list[tuple[str, str]]
) -> list[LoadPoint]:
    common: set[str] = set()
    for mesh_a, mesh_b in pairs:
        points_a = set(values_a.loc[values_a["mesh"] == mesh_a, "point"])
        points_b = set(values_b.loc[values_b["mesh"] == mesh_b, "point"])
        common |= points_a & points_b
    if not common:
        shown_a = "; ".join(sorted(set(values_a["point"]))[:_SHOWN])
        shown_b = "; ".join(sorted(set(values_b["point"]))[:_SHOWN])
        raise CompareError(
            f"A {a.spec} and B {b.spec} have no load point in common (A: {shown_a}; B: {shown_b})"
        )
    first = values_b[values_b["point"].isin(common)].drop_duplicates("point")
    points = [
        LoadPoint(
            row.point,
            None if _missing(row.requested_qps) else float(row.requested_qps),
            None if _missing(row.connections) else int(row.connections),
            None if _missing(row.payload_bytes) else int(row.payload_bytes),
            None if _missing(row.protocol) else str(row.protocol),
        )
        for row in first.itertuples(index=False)
    ]
    return sorted(
        points,
        key=lambda p: (
            p.protocol or "",
            p.payload_bytes or 0,
            p.connections or 0,
            math.inf if p.requested_qps is None else p.requested_qps,
        ),
    )


# -- night-to-night variation ---------------------------------------------------------------------


SeriesKey = tuple[str, str, str, Scale]  # mesh, load point label, metric, scale


def _night_sd(
    store: DatasetStore, window: Sequence[StoredRun], wanted: set[SeriesKey]
) -> dict[SeriesKey, float]:
    """Night-to-night sd of each wanted series over the runs of `window` (`detect_frame`, pooled
    across the series of a metric)."""
    history = _values(store, [r.run_id for r in window], window[0].run_date, window[-1].run_date)
    order = {r.run_id: i for i, r in enumerate(window)}
    history = history.assign(night=history["run_id"].map(order))
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


def _cells(
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


def _adjust(rows: list[dict[str, Any]], alpha: float) -> None:
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
