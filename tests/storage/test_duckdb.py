"""BI tools can read the store: DuckDB runs the query documented in docs/data-model.md."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from meshmark_tasks.storage import DatasetStore

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"
DAY_1 = datetime.date(2026, 11, 25)
DAY_2 = datetime.date(2026, 11, 26)
TS_1 = datetime.datetime(2026, 11, 25, 2, 0, 4, tzinfo=datetime.UTC)
TS_2 = datetime.datetime(2026, 11, 26, 2, 0, 7, tzinfo=datetime.UTC)


def documented_query() -> str:
    """The SQL block right after the `<!-- duckdb-example -->` marker of the doc."""
    match = re.search(r"<!-- duckdb-example -->\n```sql\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert match, f"{DOC} lost its DuckDB example"
    return match.group(1)


def _scores(meshes: list[str], marks: list[float | None], run_ts: datetime.datetime) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cell_id": [f"{m}-q100-c8-b0-http-r{i}" for i, m in enumerate(meshes)],
            "mesh": meshes,
            "meshmark": marks,
            "run_ts": [run_ts] * len(meshes),
        }
    )


@pytest.fixture
def filled_store(store: DatasetStore) -> DatasetStore:
    store.write_run(
        "meshmark",
        _scores(["baseline", "baseline", "sidecar", "sidecar"], [90.0, 88.0, 60.0, None], TS_1),
        run_id="scheduled__2026-11-25T02:00:00+00:00",
        run_date=DAY_1,
    )
    store.write_run(
        "meshmark",
        _scores(["baseline", "sidecar", "sidecar"], [89.0, 70.0, 64.0], TS_2),
        run_id="scheduled__2026-11-26T02:00:00+00:00",
        run_date=DAY_2,
    )
    # A retry of the second run under the same date must not double its rows.
    store.write_run(
        "meshmark",
        _scores(["baseline", "sidecar", "sidecar"], [89.0, 70.0, 64.0], TS_2),
        run_id="scheduled__2026-11-26T02:00:00+00:00",
        run_date=DAY_2,
    )
    return store


def test_documented_query_aggregates_per_mesh_and_day(filled_store: DatasetStore) -> None:
    sql = documented_query().replace("<root>", filled_store.root)
    con = duckdb.connect()
    rows = con.execute(sql).fetchall()
    assert rows == [
        ("baseline", DAY_1, TS_1, 89.0, 2),
        ("sidecar", DAY_1, TS_1, 60.0, 1),  # the null score is left out, not counted as 0
        ("baseline", DAY_2, TS_2, 89.0, 1),
        ("sidecar", DAY_2, TS_2, 67.0, 2),
    ]
    # The same numbers through pyarrow, as a cross-check of the reader, not of DuckDB.
    frame = filled_store.read("meshmark").to_pandas().dropna(subset=["meshmark"])
    means = frame.groupby(["mesh", "run_date"])["meshmark"].mean()
    assert means[("sidecar", DAY_2)] == 67.0


def test_duckdb_sees_one_run_date_column_of_type_date(filled_store: DatasetStore) -> None:
    glob = f"{filled_store.root}/meshmark/*/*.parquet"
    con = duckdb.connect()
    described = con.execute(
        f"DESCRIBE SELECT * FROM read_parquet('{glob}', hive_partitioning = true)"
    ).fetchall()
    run_date_columns = [(name, kind) for name, kind, *_ in described if name == "run_date"]
    assert run_date_columns == [("run_date", "DATE")]
    # Partition pruning by date works on the directory names.
    [(count,)] = con.execute(
        f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true) "
        "WHERE run_date = DATE '2026-11-26'"
    ).fetchall()
    assert count == 3
