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
from typing import TYPE_CHECKING, Any

import pandas as pd

from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.reporting.compare_stats import (
    METRICS,
    LoadPoint,
    SeriesKey,
    adjust,
    cells_to_compare,
    load_point_label,
    missing,
    night_sd_of,
)

if TYPE_CHECKING:
    from meshmark_tasks.storage import DatasetStore, StoredRun

LOAD_POINT = ["requested_qps", "connections", "payload_bytes", "protocol"]
DEFAULT_ALPHA = 0.05
DEFAULT_LEVEL = 0.95
DEFAULT_HISTORY_RUNS = 30
_SHOWN = 5


class CompareError(MeshmarkError):
    """The two sides cannot be compared: an unknown run or mesh, no common load point."""


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
    cells, not_compared = cells_to_compare(pairs, points, values_a, values_b)
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
    adjust(rows, alpha)
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
            None if missing(row.requested_qps) else float(row.requested_qps),
            None if missing(row.connections) else int(row.connections),
            None if missing(row.payload_bytes) else int(row.payload_bytes),
            None if missing(row.protocol) else str(row.protocol),
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


def _night_sd(
    store: DatasetStore, window: Sequence[StoredRun], wanted: set[SeriesKey]
) -> dict[SeriesKey, float]:
    """Night-to-night sd of each wanted series over the runs of `window`."""
    history = _values(store, [r.run_id for r in window], window[0].run_date, window[-1].run_date)
    order = {r.run_id: i for i, r in enumerate(window)}
    return night_sd_of(history.assign(night=history["run_id"].map(order)), wanted)
