"""Data that does not fit the schema is refused with the table, the column and the cell named."""

from __future__ import annotations

import datetime

import pandas as pd
import pyarrow as pa
import pytest

from meshmark_tasks.errors import StoreError
from meshmark_tasks.storage import DatasetStore

DAY = datetime.date(2026, 11, 26)
RUN = "scheduled__2026-11-26T02:00:00+00:00"


def _nothing_written(store: DatasetStore) -> bool:
    return all(store.read(t).num_rows == 0 for t in ("results", "meshmark", "meshmark_config", "quarantine"))


def test_extra_column_is_refused(store: DatasetStore, sample) -> None:
    frame = sample("meshmark", 3).to_pandas()
    frame["meshmark_v2"] = 1.0
    with pytest.raises(StoreError, match=r"meshmark: unknown column\(s\) 'meshmark_v2'"):
        store.write_run("meshmark", frame, run_id=RUN, run_date=DAY)
    assert _nothing_written(store)


def test_uncastable_value_in_pandas_names_table_column_and_cell(store: DatasetStore, sample) -> None:
    frame = sample("results", 5).to_pandas()
    frame["actual_qps"] = frame["actual_qps"].astype(object)
    frame.loc[3, "actual_qps"] = "fast"
    cell = frame.loc[3, "cell_id"]
    with pytest.raises(StoreError) as caught:
        store.write_run("results", frame, run_id=RUN, run_date=DAY)
    message = str(caught.value)
    assert message.startswith("results: column 'actual_qps'")
    assert f"row 3 (cell_id {cell!r})" in message
    assert _nothing_written(store)


def test_uncastable_value_in_arrow_names_the_cell(store: DatasetStore, sample) -> None:
    data = sample("results", 40)
    payload = pa.array(["12"] * 40, pa.string()).to_pylist()
    payload[27] = "12 KiB"
    data = data.set_column(data.schema.get_field_index("payload_bytes"), "payload_bytes", pa.array(payload))
    cell = data.column("cell_id")[27].as_py()
    with pytest.raises(
        StoreError, match=rf"results: column 'payload_bytes' .* row 27 \(cell_id '{cell}'\): value '12 KiB'"
    ):
        store.write_run("results", data, run_id=RUN, run_date=DAY)


def test_lossy_casts_are_refused(store: DatasetStore, sample) -> None:
    frame = sample("results", 4).to_pandas()
    frame["connections"] = [8, 16, 2**40, 8]  # int32 in the schema: would overflow
    with pytest.raises(StoreError, match=r"results: column 'connections'.*row 2"):
        store.write_run("results", frame, run_id=RUN, run_date=DAY)
    frame = sample("results", 4).to_pandas()
    frame["requests_total"] = [1.0, 2.5, 3.0, 4.0]  # a fraction into int64
    with pytest.raises(StoreError, match=r"results: column 'requests_total'.*row 1"):
        store.write_run("results", frame, run_id=RUN, run_date=DAY)


def test_null_in_non_nullable_column_names_the_cell(store: DatasetStore, sample) -> None:
    frame = sample("meshmark", 4).to_pandas()
    frame.loc[2, "mesh"] = None
    cell = frame.loc[2, "cell_id"]
    with pytest.raises(StoreError, match=rf"meshmark: column 'mesh' is null in row 2 \(cell_id '{cell}'\)"):
        store.write_run("meshmark", frame, run_id=RUN, run_date=DAY)


def test_null_cell_id_is_reported_by_row(store: DatasetStore, sample) -> None:
    frame = sample("results", 3).to_pandas()
    frame.loc[1, "cell_id"] = None
    with pytest.raises(StoreError, match=r"results: column 'cell_id' is null in row 1$"):
        store.write_run("results", frame, run_id=RUN, run_date=DAY)


def test_missing_required_column_is_refused(store: DatasetStore) -> None:
    frame = pd.DataFrame({"mesh": ["a"], "reasons": [["p99 above SLO"]]})  # no 'stage'
    with pytest.raises(StoreError, match="quarantine: required column 'stage' is missing"):
        store.write_run("quarantine", frame, run_id=RUN, run_date=DAY)


def test_run_id_column_that_disagrees_is_refused(store: DatasetStore, sample) -> None:
    frame = sample("meshmark_config", 2).to_pandas()
    frame["run_id"] = [RUN, "manual__other"]
    with pytest.raises(StoreError, match=r"meshmark_config: column 'run_id' holds 'manual__other' in row 1"):
        store.write_run("meshmark_config", frame, run_id=RUN, run_date=DAY)
    frame["run_id"] = [RUN, None]  # agreeing values and nulls are fine: the store fills them
    store.write_run("meshmark_config", frame, run_id=RUN, run_date=DAY)
    assert store.read("meshmark_config").column("run_id").to_pylist() == [RUN, RUN]


def test_bad_arguments_are_refused(store: DatasetStore, sample) -> None:
    with pytest.raises(StoreError, match="unknown table 'score'"):
        store.write_run("score", sample("meshmark", 1), run_id=RUN, run_date=DAY)
    with pytest.raises(StoreError, match=r"run_date must be a datetime\.date"):
        store.write_run("meshmark", sample("meshmark", 1), run_id=RUN, run_date=datetime.datetime(2026, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="run_id must be a non-empty string"):
        store.write_run("meshmark", sample("meshmark", 1), run_id="", run_date=DAY)
    with pytest.raises(StoreError, match="expected a pandas DataFrame or pyarrow Table"):
        store.write_run("meshmark", [{"mesh": "a"}], run_id=RUN, run_date=DAY)  # type: ignore[arg-type]


def test_an_empty_untyped_frame_writes_an_empty_table(tmp_path) -> None:
    """A run where every cell failed hands in DataFrames with no rows and object/float columns."""
    import datetime

    import pandas as pd

    from meshmark_tasks.storage import DatasetStore

    store = DatasetStore(str(tmp_path))
    empty = pd.DataFrame({"cell_id": pd.Series([], dtype=object), "start_time": pd.Series([], dtype=float)})
    store.write_run("results", empty, run_id="r1", run_date=datetime.date(2026, 11, 24))
    back = store.read("results", run_id="r1")
    assert back.num_rows == 0
    assert back.schema.field("start_time").type == store.read("results").schema.field("start_time").type
