"""Rewriting a run replaces its rows; rewriting it under another run_date moves them."""

from __future__ import annotations

import datetime
import os

import pyarrow.compute as pc

from meshmark_tasks.storage import DatasetStore

DAY = datetime.date(2026, 11, 26)
NEXT_DAY = DAY + datetime.timedelta(days=1)
RUN = "manual__2026-11-26T09:15:02.123456+00:00"


def _files(store: DatasetStore, table: str) -> list[str]:
    found = []
    for directory, _, names in os.walk(os.path.join(store.root, table)):
        found += [os.path.relpath(os.path.join(directory, n), store.root) for n in names]
    return sorted(found)


def test_same_run_twice_keeps_one_copy_of_the_latest_rows(store: DatasetStore, sample) -> None:
    store.write_run("meshmark", sample("meshmark", 12, seed=1), run_id=RUN, run_date=DAY)
    second = sample("meshmark", 7, seed=2)
    store.write_run("meshmark", second, run_id=RUN, run_date=DAY)

    back = store.read("meshmark")
    assert back.num_rows == 7
    assert back.sort_by("cell_id").column("meshmark").equals(second.sort_by("cell_id").column("meshmark"))
    assert len(_files(store, "meshmark")) == 1


def test_same_run_under_another_date_is_moved_not_duplicated(store: DatasetStore, sample) -> None:
    store.write_run("results", sample("results", 5), run_id=RUN, run_date=DAY)
    store.write_run("results", sample("results", 5), run_id=RUN, run_date=NEXT_DAY)

    back = store.read("results")
    assert back.num_rows == 5
    assert set(back.column("run_date").to_pylist()) == {NEXT_DAY}
    [only] = _files(store, "results")
    assert only.startswith(os.path.join("results", "run_date=2026-11-27", "part-"))
    assert store.run_ids("results") == [RUN]


def test_rewriting_one_run_leaves_other_runs_alone(store: DatasetStore, sample) -> None:
    store.write_run("meshmark_config", sample("meshmark_config", 3), run_id="run-a", run_date=DAY)
    store.write_run("meshmark_config", sample("meshmark_config", 3), run_id="run-b", run_date=DAY)
    store.write_run("meshmark_config", sample("meshmark_config", 2), run_id="run-a", run_date=NEXT_DAY)
    store.write_run("meshmark_config", sample("meshmark_config", 2), run_id="run-a", run_date=NEXT_DAY)

    assert store.read("meshmark_config", filter=pc.field("run_id") == "run-b").num_rows == 3
    assert store.read("meshmark_config", run_id="run-a").num_rows == 2
    assert store.read("meshmark_config").num_rows == 5
    assert store.run_ids("meshmark_config") == ["run-b", "run-a"]


def test_each_table_is_independent(store: DatasetStore, sample) -> None:
    store.write_run("results", sample("results", 4), run_id=RUN, run_date=DAY)
    store.write_run("quarantine", sample("quarantine", 0), run_id=RUN, run_date=NEXT_DAY)
    # Moving the quarantine file must not touch the results file of the same run.
    assert store.read("results", run_id=RUN).num_rows == 4
    assert store.run_ids("quarantine") == [RUN]
