"""Load the report window: results joined with MeshMark rows, one row per run × mesh × load point.

The store says how DuckDB scans each table (DatasetStore.duckdb_source: the Hive-partitioned files
directly for local roots, where the `run_date` filter prunes whole partitions before a file is
opened; the store's pyarrow dataset for s3://, gs://, memory://, with the same filter pushed down)
and which run dates exist (from partition names, without opening a file).

`cells`: repetitions of a cell within one run are folded into their median (one value per run, for
the charts). `repetitions`: every repetition as its own row, for the change-point detector
(trends.py), which needs the spread within a night, with the descriptors of what was measured
(profile, mesh kind, network functions, load generator version, image/version columns when present).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import duckdb
import pandas as pd

from meshmark_tasks.errors import MeshmarkError, StoreError
from meshmark_tasks.schemas import MUE_COLUMNS, OVERHEAD_COLUMNS
from meshmark_tasks.storage import DatasetStore

# Columns that identify a series apart from the mesh; `load_point` is their readable label.
LOAD_POINT_KEYS = ["requested_qps", "connections", "payload_bytes", "protocol"]
SERIES_KEYS = ["mesh", "load_point"]

# Per-cell values taken from each table (median over repetitions).
RESULT_VALUES = [
    "actual_qps",
    "latency_ms_p50",
    "latency_ms_p90",
    "latency_ms_p99",
    "cpu_cores_used",
    "mem_mib_used",
]
# MeshMark, every MUE and the absolute overheads and cost (the percentage deltas are not reported),
# MUEs and overheads in their schemas.py order.
MESHMARK_VALUES = ["meshmark", *MUE_COLUMNS, *(c for c in OVERHEAD_COLUMNS if not c.endswith("_pct"))]
# Per-repetition values for change points: RESULT_VALUES plus the data plane's own share, and the
# data plane's CPU per unit of the app's CPU in the same cell (the machine's speed drift between
# nights moves both alike and cancels: docs/benchmarks.md, "Fidelity"), and the app's own CPU (the
# baseline's app CPU per request is the machine's speed index of the drift check: trends.py).
REPETITION_VALUES = [
    *RESULT_VALUES,
    "cpu_cores_dataplane",
    "mem_mib_dataplane",
    "dataplane_cpu_per_app_cpu",
    "cpu_cores_app",
]
# What describes a night's measurement of a mesh; a change in one is "what changed that night".
DESCRIPTOR_COLUMNS = [
    "profile",
    "backend",
    "mesh_kind",
    "network_functions",
    "load_generator",
    "load_generator_version",
]


def is_descriptor_column(name: str) -> bool:
    """Columns beyond DESCRIPTOR_COLUMNS that say what ran: images and versions (a results table
    written by a backend that records them, e.g. `proxy_image`, `mesh_version`)."""
    return name in DESCRIPTOR_COLUMNS or name.endswith(("_image", "_images", "_version", "_versions"))


T = TypeVar("T")


class NoHistoryError(MeshmarkError):
    """There is nothing to report on under the given storage root."""


@dataclass(frozen=True)
class History:
    """The report window, newest run last."""

    root: str
    runs: pd.DataFrame  # run_id, run_date, started, profile, run_seq (0 = oldest in window)
    cells: pd.DataFrame  # run_id, run_date, run_seq, profile, mesh, is_baseline, load point, values
    # One row per repetition: run_id, run_seq, mesh, is_baseline, load point, repetition,
    # REPETITION_VALUES, MESHMARK_VALUES and the descriptor columns found (is_descriptor_column).
    repetitions: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def newest_run(self) -> pd.Series:
        return self.runs.iloc[-1]

    @property
    def newest_run_id(self) -> str:
        return str(self.newest_run["run_id"])

    @property
    def newest_run_date(self) -> dt.date:
        value = self.newest_run["run_date"]
        if isinstance(value, pd.Timestamp):
            return value.date()
        return dt.date.fromisoformat(str(value)[:10])


def duckdb_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # stderr belongs to the caller's own messages
    return con


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _reading(root: str, what: str, read: Callable[[], T]) -> T:
    """`read()`, with a store or filesystem error turned into NoHistoryError naming the root."""
    try:
        return read()
    except StoreError as exc:
        raise NoHistoryError(str(exc)) from None
    except MeshmarkError:
        raise
    except Exception as exc:  # the filesystem layer raises many types; name the root in one
        raise NoHistoryError(f"cannot read {what} under {root}: {exc}") from exc


def load_history(
    root: str,
    *,
    days: int = 30,
    meshes: Sequence[str] | None = None,
    end_date: dt.date | None = None,
    repetition_runs: int | None = None,
) -> History:
    """Runs whose run_date lies in the `days` days ending at `end_date` (default: the newest run).

    `repetition_runs`: load every repetition of only the newest N runs of the window (the change
    points look no further back); None loads them for every run.
    """
    if days < 1:
        raise NoHistoryError(f"the report window must be at least one day, got days={days}")
    store = _reading(root, "the storage root", lambda: DatasetStore(root))
    dates = _reading(root, "results", lambda: store.run_dates("results"))
    if not dates:
        raise NoHistoryError(f"no results data under {store.root}")
    con = duckdb_connection()
    try:
        results = _reading(root, "results", lambda: store.duckdb_source(con, "results"))
        meshmark = _reading(root, "meshmark", lambda: store.duckdb_source(con, "meshmark"))
        end = end_date or dates[-1]
        start = end - dt.timedelta(days=days - 1)
        date_filter = f"run_date BETWEEN DATE '{start.isoformat()}' AND DATE '{end.isoformat()}'"
        mesh_filter = ""
        if meshes:
            mesh_filter = " AND mesh IN (" + ", ".join(_sql_string(m) for m in meshes) + ")"
        cells = _query_cells(con, results, meshmark, date_filter + mesh_filter)
        if cells.empty:
            wanted = f" for meshes {', '.join(meshes)}" if meshes else ""
            raise NoHistoryError(f"no runs under {root} between {start} and {end}{wanted}")
        runs = (
            cells.groupby("run_id", as_index=False)
            .agg(run_date=("run_date", "first"), started=("started", "min"), profile=("profile", "first"))
            .sort_values(["run_date", "started", "run_id"], na_position="first", kind="stable")
            .reset_index(drop=True)
        )
        runs["run_seq"] = range(len(runs))
        repetition_filter = date_filter
        if repetition_runs is not None and repetition_runs < len(runs):
            newest = runs.iloc[-repetition_runs:]
            first = pd.Timestamp(newest["run_date"].min()).date()
            repetition_filter = (
                f"run_date BETWEEN DATE '{first.isoformat()}' AND DATE '{end.isoformat()}'"
                " AND run_id IN (" + ", ".join(_sql_string(str(r)) for r in newest["run_id"]) + ")"
            )
        repetitions = _query_repetitions(con, results, meshmark, repetition_filter + mesh_filter)
    finally:
        con.close()
    cells = cells.drop(columns=["started"]).merge(runs[["run_id", "run_seq"]], on="run_id")
    cells = cells.sort_values(["run_seq", "mesh", "requested_qps", "connections"], kind="stable")
    repetitions = repetitions.merge(runs[["run_id", "run_seq"]], on="run_id")
    repetitions = repetitions.sort_values(["run_seq", "mesh", "load_point", "repetition"], kind="stable")
    return History(
        root=root,
        runs=runs,
        cells=cells.reset_index(drop=True),
        repetitions=repetitions.reset_index(drop=True),
    )


def _load_point_sql(alias: str) -> str:
    return f"""CASE WHEN {alias}.requested_qps IS NULL THEN 'max'
                    WHEN {alias}.requested_qps = floor({alias}.requested_qps)
                        THEN CAST(CAST({alias}.requested_qps AS BIGINT) AS VARCHAR)
                    ELSE CAST({alias}.requested_qps AS VARCHAR) END || ' qps · ' || {alias}.connections
                   || ' conn · ' || {alias}.payload_bytes || ' B · ' || {alias}.protocol"""


def _query_repetitions(
    con: duckdb.DuckDBPyConnection, results: str, meshmark: str, where: str
) -> pd.DataFrame:
    """Every results row of the window with its MeshMark row (see History.repetitions)."""
    present = [str(row[0]) for row in con.sql(f"DESCRIBE SELECT * FROM {results}").fetchall()]
    descriptors = [c for c in present if is_descriptor_column(c) and c not in ("profile",)]
    # The round a repetition ran in (round-robin order across mesh configurations), when recorded:
    # overheads are paired with the baseline of the same round (trends.py).
    extra = [*descriptors, *(c for c in ("round",) if c in present)]
    descriptor_sql = "".join(f', r."{c}"' for c in extra)
    meshmark_cols = ", ".join(f"m.{c}" for c in MESHMARK_VALUES)
    sql = f"""
        WITH m AS (SELECT run_id, cell_id, {", ".join(MESHMARK_VALUES)} FROM {meshmark} WHERE {where})
        SELECT r.run_id, r.profile, r.mesh, r.is_baseline, r.requested_qps, r.connections,
               r.payload_bytes, r.protocol, {_load_point_sql("r")} AS load_point,
               coalesce(r.repetition, 0) AS repetition{descriptor_sql},
               r.actual_qps, r.latency_ms_p50, r.latency_ms_p90, r.latency_ms_p99,
               CASE WHEN r.cpu_cores_app IS NULL AND r.cpu_cores_dataplane IS NULL
                         AND r.cpu_cores_controlplane IS NULL THEN NULL
                    ELSE coalesce(r.cpu_cores_app, 0) + coalesce(r.cpu_cores_dataplane, 0)
                         + coalesce(r.cpu_cores_controlplane, 0) END AS cpu_cores_used,
               CASE WHEN r.mem_bytes_app IS NULL AND r.mem_bytes_dataplane IS NULL
                         AND r.mem_bytes_controlplane IS NULL THEN NULL
                    ELSE (coalesce(r.mem_bytes_app, 0) + coalesce(r.mem_bytes_dataplane, 0)
                         + coalesce(r.mem_bytes_controlplane, 0)) / 1048576.0 END AS mem_mib_used,
               r.cpu_cores_dataplane, r.mem_bytes_dataplane / 1048576.0 AS mem_mib_dataplane,
               r.cpu_cores_dataplane / nullif(r.cpu_cores_app, 0) AS dataplane_cpu_per_app_cpu,
               r.cpu_cores_app,
               {meshmark_cols}
        FROM (SELECT * FROM {results} WHERE {where}) r LEFT JOIN m USING (run_id, cell_id)
    """
    frame: pd.DataFrame = con.sql(sql).df()
    return frame


def _query_cells(con: duckdb.DuckDBPyConnection, results: str, meshmark: str, where: str) -> pd.DataFrame:
    medians = ",\n".join(f"median({c}) AS {c}" for c in RESULT_VALUES + MESHMARK_VALUES)
    meshmark_cols = ", ".join(MESHMARK_VALUES)
    sql = f"""
        WITH r AS (
            SELECT run_id, run_date, profile, cell_id, mesh, is_baseline,
                   requested_qps, connections, payload_bytes, protocol, start_time,
                   actual_qps, latency_ms_p50, latency_ms_p90, latency_ms_p99,
                   -- MESHMARK.md: cpu_used = app + dataplane + controlplane; null only if none measured
                   CASE WHEN cpu_cores_app IS NULL AND cpu_cores_dataplane IS NULL
                             AND cpu_cores_controlplane IS NULL THEN NULL
                        ELSE coalesce(cpu_cores_app, 0) + coalesce(cpu_cores_dataplane, 0)
                             + coalesce(cpu_cores_controlplane, 0) END AS cpu_cores_used,
                   CASE WHEN mem_bytes_app IS NULL AND mem_bytes_dataplane IS NULL
                             AND mem_bytes_controlplane IS NULL THEN NULL
                        ELSE (coalesce(mem_bytes_app, 0) + coalesce(mem_bytes_dataplane, 0)
                             + coalesce(mem_bytes_controlplane, 0)) / 1048576.0 END AS mem_mib_used
            FROM {results}
            WHERE {where}
        ),
        m AS (
            SELECT run_id, cell_id, {meshmark_cols} FROM {meshmark} WHERE {where}
        )
        SELECT r.run_id, any_value(r.run_date) AS run_date, any_value(r.profile) AS profile,
               min(r.start_time) AS started, r.mesh, bool_or(r.is_baseline) AS is_baseline,
               r.requested_qps, r.connections, r.payload_bytes, r.protocol,
               {_load_point_sql("r")} AS load_point,
               count(*) AS repetitions,
               {medians}
        FROM r LEFT JOIN m USING (run_id, cell_id)
        GROUP BY r.run_id, r.mesh, r.requested_qps, r.connections, r.payload_bytes, r.protocol
    """
    frame: pd.DataFrame = con.sql(sql).df()
    return frame


def complete_nights(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of nights where a mesh has its usual number of load points.

    A mean over load points is comparable between nights only when it covers the same load points:
    a night that lost a load point to quarantine (`meshmark_config.partial`) would move the mean by
    the missing point's weight, not by a change of the mesh. "Usual" is the count most nights of
    the window have for that mesh, so a profile that adds load points from some night on keeps its
    newer nights once they are the majority.
    """
    if frame.empty or "load_point" not in frame.columns:
        return frame
    counts = frame.groupby(["mesh", "run_seq"])["load_point"].nunique()
    usual = counts.groupby(level="mesh").agg(lambda c: c.mode().max())
    complete = counts[counts.to_numpy() >= usual.reindex(counts.index.get_level_values("mesh")).to_numpy()]
    keys = pd.MultiIndex.from_frame(frame[["mesh", "run_seq"]])
    return frame[keys.isin(complete.index)]
