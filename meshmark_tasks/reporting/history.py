"""Load the report window: results joined with MeshMark rows, one row per run × mesh × load point.

The store says how DuckDB scans each table (DatasetStore.duckdb_source: the Hive-partitioned files
directly for local roots, where the `run_date` filter prunes whole partitions before a file is
opened; the store's pyarrow dataset for s3://, gs://, memory://, with the same filter pushed down)
and which run dates exist (from partition names, without opening a file).

Repetitions of a cell within one run are folded into their median, so a series has one value per
run and one outlier repetition does not move it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


T = TypeVar("T")


class NoHistoryError(MeshmarkError):
    """There is nothing to report on under the given storage root."""


@dataclass(frozen=True)
class History:
    """The report window, newest run last."""

    root: str
    runs: pd.DataFrame  # run_id, run_date, started, profile, run_seq (0 = oldest in window)
    cells: pd.DataFrame  # run_id, run_date, run_seq, profile, mesh, is_baseline, load point, values

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
) -> History:
    """Runs whose run_date lies in the `days` days ending at `end_date` (default: the newest run)."""
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
    finally:
        con.close()
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
    cells = cells.drop(columns=["started"]).merge(runs[["run_id", "run_seq"]], on="run_id")
    cells = cells.sort_values(["run_seq", "mesh", "requested_qps", "connections"], kind="stable")
    return History(root=root, runs=runs, cells=cells.reset_index(drop=True))


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
               CASE WHEN r.requested_qps IS NULL THEN 'max'
                    WHEN r.requested_qps = floor(r.requested_qps)
                        THEN CAST(CAST(r.requested_qps AS BIGINT) AS VARCHAR)
                    ELSE CAST(r.requested_qps AS VARCHAR) END || ' qps · ' || r.connections
                   || ' conn · ' || r.payload_bytes || ' B · ' || r.protocol AS load_point,
               count(*) AS repetitions,
               {medians}
        FROM r LEFT JOIN m USING (run_id, cell_id)
        GROUP BY r.run_id, r.mesh, r.requested_qps, r.connections, r.payload_bytes, r.protocol
    """
    frame: pd.DataFrame = con.sql(sql).df()
    return frame
