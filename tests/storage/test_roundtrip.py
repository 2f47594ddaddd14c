"""Every table round-trips through the store with its schema, types and metadata."""

from __future__ import annotations

import datetime
import os

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from meshmark_tasks.errors import StoreError
from meshmark_tasks.schemas import SCHEMA_VERSION, TABLES
from meshmark_tasks.storage import HIVE_PARTITIONING, DatasetStore

DAY = datetime.date(2026, 11, 26)
RUN = "scheduled__2026-11-26T02:00:00+00:00"


def _expected(data: pa.Table, schema: pa.Schema, run_id: str, run_date: datetime.date) -> pa.Table:
    n = data.num_rows
    full = data.append_column("run_id", pa.array([run_id] * n)).append_column(
        "run_date", pa.array([run_date] * n, pa.date32())
    )
    return full.select(schema.names).cast(schema)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_each_table_round_trips_exactly(store: DatasetStore, sample, table: str) -> None:
    data = sample(table, 50, seed=1)
    written = store.write_run(table, data, run_id=RUN, run_date=DAY)

    assert written == os.path.join(
        store.root, table, "run_date=2026-11-26", "part-" + _safe(RUN) + ".parquet"
    )
    back = store.read(table, run_id=RUN)
    assert back.schema.equals(TABLES[table], check_metadata=True)
    key = next(k for k in ("cell_id", "mesh", "run_ts") if k in TABLES[table].names)
    assert back.sort_by(key).equals(_expected(data, TABLES[table], RUN, DAY).sort_by(key))
    # The whole table, read without a run id, holds the same rows.
    assert store.read(table).num_rows == 50


def _safe(run_id: str) -> str:
    from meshmark_tasks.storage import safe_run_id

    return safe_run_id(run_id)


def test_file_keeps_schema_version_and_not_the_partition_column(store: DatasetStore, sample) -> None:
    path = store.write_run("meshmark", sample("meshmark", 5), run_id=RUN, run_date=DAY)
    file_schema = pq.read_schema(path)
    assert file_schema.metadata[b"meshmark.schema_version"] == SCHEMA_VERSION.encode()
    assert file_schema.metadata[b"meshmark.run_id"] == RUN.encode()
    assert "run_date" not in file_schema.names  # only in the directory name
    assert file_schema.field("cell_id").nullable is False


def test_pandas_input_with_missing_nullable_columns_is_filled_with_nulls(store: DatasetStore) -> None:
    frame = pd.DataFrame(
        {
            "mesh": ["baseline", "sidecar"],
            "meshmark_mean": [89.43, 61.2],
            "cells_scored": [4, 4],  # int64 in pandas, int64 in the schema
        }
    )
    store.write_run("meshmark_config", frame, run_id=RUN, run_date=DAY)
    back = store.read("meshmark_config").sort_by("mesh")
    assert back.column("meshmark_min").null_count == 2
    assert back.column("run_id").to_pylist() == [RUN, RUN]
    assert back.column("run_date").to_pylist() == [DAY, DAY]
    assert back.column("meshmark_mean").to_pylist() == [89.43, 61.2]


def test_pandas_types_are_cast_to_the_schema(store: DatasetStore, sample) -> None:
    frame = sample("results", 6).to_pandas()
    frame["connections"] = frame["connections"].astype("int64")  # schema says int32
    frame["requested_qps"] = frame["connections"]  # ints into a float64 column
    frame["start_time"] = pd.to_datetime(frame["start_time"]).dt.tz_convert("Europe/Berlin")
    store.write_run("results", frame, run_id=RUN, run_date=DAY)
    back = store.read("results")
    assert back.schema.field("connections").type == pa.int32()
    assert back.schema.field("start_time").type == pa.timestamp("us", tz="UTC")
    expected_start = sample("results", 6).sort_by("cell_id").column("start_time").to_pylist()
    assert back.sort_by("cell_id").column("start_time").to_pylist() == expected_start


def test_empty_write_leaves_a_file_that_reads_as_zero_rows(store: DatasetStore) -> None:
    path = store.write_run("quarantine", pd.DataFrame(), run_id=RUN, run_date=DAY)
    assert os.path.isfile(path)
    assert store.read("quarantine", run_id=RUN).num_rows == 0
    assert store.run_ids("quarantine") == [RUN]  # "had none" differs from "not written"
    assert store.run_ids("results") == []


def test_reading_a_table_nobody_wrote_gives_an_empty_table_with_the_schema(store: DatasetStore) -> None:
    for table, schema in TABLES.items():
        empty = store.read(table)
        assert empty.num_rows == 0
        assert empty.schema.equals(schema)
        assert store.read(table, run_id="never").num_rows == 0
        assert store.dataset(table).count_rows() == 0
    assert store.read("results", columns=["mesh"]).column_names == ["mesh"]


def test_columns_and_filter_and_run_id_select_rows(store: DatasetStore, sample) -> None:
    store.write_run("meshmark", sample("meshmark", 9, seed=1), run_id="a", run_date=DAY)
    store.write_run(
        "meshmark", sample("meshmark", 6, seed=2), run_id="b", run_date=DAY + datetime.timedelta(1)
    )
    assert store.read("meshmark", run_id="b").num_rows == 6
    picked = store.read(
        "meshmark",
        columns=["run_date", "mesh"],
        filter=(pc.field("run_date") == DAY) & (pc.field("mesh") == "sidecar"),
    )
    assert picked.column_names == ["run_date", "mesh"]
    assert picked.num_rows == 3
    assert store.run_ids("meshmark") == ["a", "b"]  # ordered by run_date
    with pytest.raises(StoreError, match="meshmark: unknown column"):
        store.read("meshmark", columns=["nope"])
    with pytest.raises(StoreError, match="unknown table 'scores'"):
        store.read("scores")


def test_plain_pyarrow_readers_see_one_typed_run_date(store: DatasetStore, sample) -> None:
    store.write_run("results", sample("results", 4), run_id=RUN, run_date=DAY)
    table_dir = os.path.join(store.root, "results")
    typed = ds.dataset(table_dir, format="parquet", partitioning=HIVE_PARTITIONING).to_table()
    assert typed.column_names.count("run_date") == 1
    assert typed.schema.field("run_date").type == pa.date32()
    # The bare "hive" flavour cannot infer dates: it yields the directory value as a string.
    # docs/data-model.md tells readers to pass the typed partitioning instead.
    inferred = ds.dataset(table_dir, format="parquet", partitioning="hive").to_table()
    assert inferred.column("run_date").to_pylist() == ["2026-11-26"] * 4


def test_writes_under_a_file_url_root(tmp_path, sample) -> None:
    store = DatasetStore(f"file://{tmp_path}/s")
    assert store.root == str(tmp_path / "s")
    store.write_run("meshmark_config", sample("meshmark_config", 3), run_id=RUN, run_date=DAY)
    assert store.read("meshmark_config").num_rows == 3


def test_nanosecond_and_naive_time_stamps_are_stored_as_utc_microseconds(store: DatasetStore, sample) -> None:
    frame = sample("results", 2).to_pandas()
    frame["start_time"] = pd.to_datetime(
        ["2026-11-26T02:00:00.123456789Z", "2026-11-26T02:00:01.000000000Z"]
    ).as_unit("ns")
    frame["end_time"] = pd.to_datetime(["2026-11-26T02:01:00", "2026-11-26T02:01:01"])  # naive: taken as UTC
    store.write_run("results", frame, run_id=RUN, run_date=DAY)
    back = store.read("results", columns=["cell_id", "start_time", "end_time"]).sort_by("cell_id")
    utc = datetime.UTC
    assert back.column("start_time").to_pylist()[0] == datetime.datetime(
        2026, 11, 26, 2, 0, 0, 123456, tzinfo=utc
    )
    assert back.column("end_time").to_pylist()[1] == datetime.datetime(2026, 11, 26, 2, 1, 1, tzinfo=utc)
