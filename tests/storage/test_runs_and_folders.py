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
from meshmark_tasks.storage import store as store_module

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


def test_history_of_a_window_opens_only_the_window_s_files(
    tmp_path: Path, sample: MakeTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A comparison of two nights must not open (footer-check) three years of files: read_history
    checks only the files of its dates and runs, and a file is checked once however many stores
    read it (the report, its history and its comparison page each open a store)."""
    root = str(tmp_path / "data")
    scheduled = _three_runs(root, sample)
    damaged = tmp_path / "data" / "results" / f"run_date={DAYS[0].isoformat()}" / "part-old__run.parquet"
    damaged.write_bytes(b"not parquet")
    checked: list[str] = []
    real_check = store_module._footer_problem

    def counting(fs: object, path: str, schema: object) -> str | None:
        checked.append(Path(path).name)
        return real_check(fs, path, schema)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module, "_footer_problem", counting)
    store = DatasetStore(root)
    rows = store.read_history("results", start=DAYS[2], columns=["run_id"])
    assert set(rows.column("run_id").to_pylist()) == {scheduled[2]}
    assert len(checked) == 1 and store.skipped == []
    both = store.read_history("results", start=DAYS[1], end=DAYS[2], run_ids=["manual__a", scheduled[2]])
    assert set(both.column("run_id").to_pylist()) == {"manual__a", scheduled[2]}
    assert len(checked) == 2  # tonight's file is not checked again; manual__a is new

    third = DatasetStore(root)
    everything = third.read_history("results", columns=["run_id"])
    assert len(set(everything.column("run_id").to_pylist())) == 5
    assert len(checked) == 6  # only the four files no store had checked, the damaged one among them
    assert [Path(skip.path).name for skip in third.skipped] == ["part-old__run.parquet"]


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
