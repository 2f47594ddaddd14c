"""An fsspec URL root (memory://) works for tables, raw outputs and folders."""

from __future__ import annotations

import datetime

import fsspec
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from meshmark_tasks.storage import HIVE_PARTITIONING, DatasetStore

DAY = datetime.date(2026, 11, 26)
RUN = "scheduled__2026-11-26T02:00:00+00:00"


def test_tables_round_trip_and_move_on_a_memory_root(memory_root: str, sample) -> None:
    store = DatasetStore(memory_root + "/")
    assert store.root == memory_root
    data = sample("meshmark", 20)
    written = store.write_run("meshmark", data, run_id=RUN, run_date=DAY)
    safe = "scheduled__2026-11-26T02~3A00~3A00~2B00~3A00"
    assert written == f"{memory_root}/meshmark/run_date=2026-11-26/part-{safe}.parquet"
    assert fsspec.filesystem("memory").exists(written)

    back = store.read("meshmark", run_id=RUN)
    assert back.sort_by("cell_id").column("meshmark").equals(data.sort_by("cell_id").column("meshmark"))
    store.write_run("meshmark", data, run_id=RUN, run_date=DAY + datetime.timedelta(1))
    assert store.read("meshmark").num_rows == 20  # moved, not duplicated
    assert store.run_ids("meshmark") == [RUN]

    # Anyone can read it with pyarrow through the filesystem the store hands out.
    fs, base = store.filesystem()
    assert isinstance(fs, pafs.PyFileSystem)
    table = ds.dataset(f"{base}/meshmark", filesystem=fs, format="parquet", partitioning=HIVE_PARTITIONING)
    assert table.count_rows() == 20


def test_raw_outputs_on_a_memory_root(memory_root: str) -> None:
    store = DatasetStore(memory_root)
    relative = store.put_raw(RUN, "baseline-q100-c8-b0-http-r0", b'{"DurationHistogram": {}}', "json")
    url = store.raw_url(relative)
    assert url == f"{memory_root}/{relative}"
    with fsspec.open(url, "rb") as handle:
        assert handle.read() == b'{"DurationHistogram": {}}'
    assert store.data_docs_dir(RUN).startswith(memory_root + "/data_docs/")


def test_empty_quarantine_on_a_memory_root(memory_root: str) -> None:
    store = DatasetStore(memory_root)
    store.write_run("quarantine", sample_empty(), run_id=RUN, run_date=DAY)
    assert store.run_ids("quarantine") == [RUN]
    assert store.read("quarantine").num_rows == 0


def sample_empty():
    import pandas as pd

    return pd.DataFrame()
