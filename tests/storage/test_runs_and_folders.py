"""What the store answers about runs across time, and the folders it owns beside the tables."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pytest

from meshmark_tasks.errors import StoreError
from meshmark_tasks.storage import DatasetStore, StoredRun

MakeTable = Callable[..., object]  # the `sample` fixture (conftest.py)
DAYS = [datetime.date(2026, 11, d) for d in (20, 21, 23)]


def _three_runs(root: str, sample: MakeTable) -> list[str]:
    store = DatasetStore(root)
    run_ids = []
    for n, day in enumerate(DAYS):
        run_id = f"scheduled__{day.isoformat()}T02:00:00+00:00"
        # written out of order: listing and reading must order by date, not by write time
        store.write_run("results", sample("results", 6, seed=n), run_id=run_id, run_date=day)
        run_ids.append(run_id)
    store.write_run("results", sample("results", 6, seed=9), run_id="manual__b", run_date=DAYS[1])
    store.write_run("results", sample("results", 6, seed=8), run_id="manual__a", run_date=DAYS[1])
    return run_ids


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_runs_dates_and_history_come_back_oldest_first(
    kind: str, tmp_path: Path, memory_root: str, sample: MakeTable
) -> None:
    root = str(tmp_path / "data") if kind == "local" else memory_root
    scheduled = _three_runs(root, sample)
    store = DatasetStore(root)

    assert store.run_dates("results") == DAYS
    assert store.runs("results") == [
        StoredRun(DAYS[0], scheduled[0]),
        StoredRun(DAYS[1], "manual__a"),
        StoredRun(DAYS[1], "manual__b"),
        StoredRun(DAYS[1], scheduled[1]),
        StoredRun(DAYS[2], scheduled[2]),
    ]
    assert store.run_ids("results") == [run.run_id for run in store.runs("results")]
    assert store.run_dates("meshmark") == [] and store.runs("meshmark") == []

    rows = store.read_history("results", start=DAYS[1], columns=["run_id", "mesh"])
    assert rows.column_names == ["run_id", "mesh"]
    run_order = list(dict.fromkeys(rows.column("run_id").to_pylist()))
    assert run_order == ["manual__a", "manual__b", scheduled[1], scheduled[2]]
    window = store.read_history("results", start=DAYS[0], end=DAYS[1], run_ids=[scheduled[0], "manual__b"])
    assert set(window.column("run_id").to_pylist()) == {scheduled[0], "manual__b"}
    baseline = store.read_history("results", filter=pc.field("mesh") == "baseline")
    assert set(baseline.column("mesh").to_pylist()) == {"baseline"} and baseline.num_rows == 10


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_duckdb_reads_a_table_through_the_store(
    kind: str, tmp_path: Path, memory_root: str, sample: MakeTable
) -> None:
    root = str(tmp_path / "data") if kind == "local" else memory_root
    _three_runs(root, sample)
    store = DatasetStore(root)
    con = duckdb.connect()
    try:
        source = store.duckdb_source(con, "results")
        rows = con.sql(f"SELECT run_date, count(*) FROM {source} GROUP BY ALL ORDER BY run_date").fetchall()
        if kind == "local":
            with pytest.raises(StoreError, match="no readable meshmark data under"):
                store.duckdb_source(con, "meshmark")
    finally:
        con.close()
    assert rows == [(DAYS[0], 6), (DAYS[1], 18), (DAYS[2], 6)]


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_data_docs_and_report_folders(kind: str, tmp_path: Path, memory_root: str) -> None:
    root = str(tmp_path / "data") if kind == "local" else memory_root
    store = DatasetStore(root)
    run_id = "manual__2026-11-24T02:00:00+00:00"
    assert store.data_docs_index(run_id) is None

    def build(directory: str) -> str:
        site = Path(directory)
        (site / "validations").mkdir(parents=True, exist_ok=True)
        (site / "index.html").write_text("<html>docs</html>")
        (site / "validations" / "one.html").write_text("<html>one</html>")
        return str(site / "index.html")

    index = store.put_data_docs(run_id, build)
    assert store.data_docs_index(run_id) == index
    assert index.endswith("/data_docs/manual__2026-11-24T02~3A00~3A00~2B00~3A00/index.html")
    fs, base = store.filesystem()
    page = f"{base}/data_docs/manual__2026-11-24T02~3A00~3A00~2B00~3A00/validations/one.html"
    assert fs.open_input_stream(page).read() == b"<html>one</html>"
    assert store.reports_root() == store.reports_dir("latest").rsplit("/", 1)[0]


def test_damaged_files_are_skipped_with_a_warning_naming_them(
    tmp_path: Path, sample: MakeTable, caplog: pytest.LogCaptureFixture
) -> None:
    """A corrupt part file or a folder outside the layout leaves the good runs readable."""
    root = str(tmp_path / "data")
    run_ids = _three_runs(root, sample)
    store = DatasetStore(root)
    corrupt = tmp_path / "data" / "results" / "run_date=2026-11-21" / "part-broken.parquet"
    corrupt.write_bytes(b"PAR1 not really")
    stray = tmp_path / "data" / "results" / "run_date=not-a-date" / "part-x.parquet"
    stray.parent.mkdir()
    good = next((tmp_path / "data" / "results").glob("run_date=2026-11-20/*.parquet"))
    stray.write_bytes(good.read_bytes())

    with caplog.at_level("WARNING"):
        assert store.read("results").num_rows == 5 * 6
        # runs() goes by file names (no file opened): the damaged file's name still lists it
        assert set(run_ids) <= {r.run_id for r in store.runs("results")}
        con = duckdb.connect()
        assert con.execute(f"SELECT count(*) FROM {store.duckdb_source(con, 'results')}").fetchall() == [
            (30,)
        ]
    skipped = {Path(s.path).name: s.reason for s in store.skipped}
    assert skipped["part-broken.parquet"].startswith("not a readable Parquet file")
    assert skipped["part-x.parquet"] == "not in a run_date=YYYY-MM-DD folder of results/"
    assert sum("part-broken.parquet" in r.getMessage() for r in caplog.records) == 1  # warned once
    with pytest.raises(StoreError, match=r"part-broken\.parquet: not a readable Parquet file"):
        store.read("results", run_id="broken")
