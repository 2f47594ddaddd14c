"""A writer that dies mid-write never damages the dataset or the previous version of its run."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from meshmark_tasks.storage import HIVE_PARTITIONING, DatasetStore

DAY = datetime.date(2026, 11, 26)
RUN = "scheduled__2026-11-26T02:00:00+00:00"
OTHER_RUN = "scheduled__2026-11-25T02:00:00+00:00"


def _visible_files(store: DatasetStore, table: str) -> list[str]:
    dataset = ds.dataset(os.path.join(store.root, table), format="parquet", partitioning=HIVE_PARTITIONING)
    return [os.path.basename(f) for f in dataset.files]


def _leftovers(store: DatasetStore, table: str) -> list[str]:
    found = []
    for _, _, names in os.walk(os.path.join(store.root, table)):
        found += [n for n in names if n.endswith(".tmp")]
    return found


def _duckdb_count(store: DatasetStore, table: str) -> int:
    glob = os.path.join(store.root, table, "*", "*.parquet")
    [(count,)] = (
        duckdb.connect()
        .execute(f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true)")
        .fetchall()
    )
    return int(count)


def test_exception_half_way_keeps_the_old_version_and_leaves_no_temp(
    store: DatasetStore, sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = sample("meshmark", 30, seed=1)
    store.write_run("meshmark", first, run_id=RUN, run_date=DAY)
    store.write_run("meshmark", sample("meshmark", 5), run_id=OTHER_RUN, run_date=DAY)
    real_write_table = pq.write_table

    def write_half_then_fail(table: pa.Table, where: pa.NativeFile, **kwargs: object) -> None:
        buffer = pa.BufferOutputStream()
        real_write_table(table, buffer, **kwargs)
        data = buffer.getvalue()
        where.write(data[: data.size // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", write_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        store.write_run("meshmark", sample("meshmark", 30, seed=2), run_id=RUN, run_date=DAY)
    with pytest.raises(OSError, match="No space left"):  # a failed move to another date as well
        store.write_run(
            "meshmark", sample("meshmark", 30, seed=2), run_id=RUN, run_date=DAY + datetime.timedelta(1)
        )
    monkeypatch.undo()

    back = store.read("meshmark", run_id=RUN)
    assert back.sort_by("cell_id").column("meshmark").equals(first.sort_by("cell_id").column("meshmark"))
    assert store.read("meshmark").num_rows == 35
    assert _leftovers(store, "meshmark") == []
    assert sorted(_visible_files(store, "meshmark")) == sorted(
        [
            "part-" + n + ".parquet"
            for n in (
                "scheduled__2026-11-26T02~3A00~3A00~2B00~3A00",
                "scheduled__2026-11-25T02~3A00~3A00~2B00~3A00",
            )
        ]
    )


_CHILD = textwrap.dedent(
    """
    import datetime, sys
    import pyarrow as pa, pyarrow.parquet as pq
    from meshmark_tasks.storage import DatasetStore
    root, source, copies, run_id = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    big = pa.concat_tables([pq.read_table(source)] * copies)
    DatasetStore(root).write_run("results", big, run_id=run_id, run_date=datetime.date(2026, 11, 26))
    print("finished", flush=True)
    """
)


def test_sigkill_while_writing_a_big_table(store: DatasetStore, sample, tmp_path: Path) -> None:
    first = sample("results", 200, seed=1)
    store.write_run("results", first, run_id=RUN, run_date=DAY)
    store.write_run("results", sample("results", 50), run_id=OTHER_RUN, run_date=DAY)
    source = tmp_path / "block.parquet"
    pq.write_table(sample("results", 20_000, seed=3), source)
    partition = Path(store.root) / "results" / "run_date=2026-11-26"

    # The child writes 2,000,000 rows (several seconds); it is killed as soon as its temp file
    # holds data, i.e. in the middle of the write.
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, store.root, str(source), "100", RUN],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        deadline = time.monotonic() + 120
        temp: Path | None = None
        while temp is None and child.poll() is None and time.monotonic() < deadline:
            temp = next((p for p in partition.glob(".*.tmp") if p.stat().st_size > 4), None)
            time.sleep(0.01)
        assert temp is not None, f"the child never got to write its temp file (exit {child.poll()})"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.stdout is not None and b"finished" not in child.stdout.read()
    assert temp.exists()  # the crash left a partial temp file behind ...

    # ... which no reader sees: the dataset reads, with the previous version of the run intact.
    assert temp.name not in _visible_files(store, "results")
    back = store.read("results", run_id=RUN)
    assert back.num_rows == 200
    assert back.sort_by("cell_id").column("actual_qps").equals(first.sort_by("cell_id").column("actual_qps"))
    assert store.read("results").num_rows == 250
    assert _duckdb_count(store, "results") == 250
    assert store.clean_temp_files(min_age=datetime.timedelta(hours=1)) == []  # too fresh to judge

    # The next write of that run replaces it and removes the leftover.
    store.write_run("results", sample("results", 10, seed=4), run_id=RUN, run_date=DAY)
    assert _leftovers(store, "results") == []
    assert store.read("results").num_rows == 60


def test_clean_temp_files_removes_old_leftovers_of_any_run(store: DatasetStore, sample) -> None:
    store.write_run("meshmark", sample("meshmark", 3), run_id=RUN, run_date=DAY)
    partition = Path(store.root) / "meshmark" / "run_date=2026-11-26"
    leftover = partition / ".part-crashed-run.parquet.0123abcd.tmp"
    leftover.write_bytes(b"PAR1 half a file")
    raw_leftover = Path(store.root) / "raw" / "crashed-run" / ".c1.json.0123abcd.tmp"
    raw_leftover.parent.mkdir(parents=True)
    raw_leftover.write_bytes(b"{")
    an_hour_ago = time.time() - 3600
    os.utime(leftover, (an_hour_ago, an_hour_ago))

    assert store.clean_temp_files(min_age=datetime.timedelta(minutes=30)) == [str(leftover)]
    assert store.clean_temp_files(min_age=datetime.timedelta(0)) == [str(raw_leftover)]
    assert store.read("meshmark").num_rows == 3
