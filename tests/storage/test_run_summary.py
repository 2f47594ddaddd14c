"""Run summaries (run_summaries/<run>.json): written atomically, read back, replaced on re-run."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshmark_tasks.storage import DatasetStore

RUN = "manual__2026-11-26T02:00:00+00:00"


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_summary_round_trip(kind: str, tmp_path: Path, memory_root: str) -> None:
    store = DatasetStore(str(tmp_path) if kind == "local" else memory_root)
    assert store.read_run_summary(RUN) is None
    where = store.write_run_summary(RUN, {"data_quality": "passed", "cells_scored": 6})
    assert where.endswith("run_summaries/manual__2026-11-26T02~3A00~3A00~2B00~3A00.json")
    store.write_run_summary(RUN, {"data_quality": "passed_with_quarantine", "cells_scored": 5})
    assert store.read_run_summary(RUN) == {"data_quality": "passed_with_quarantine", "cells_scored": 5}
    if kind == "local":
        assert [p.name for p in (tmp_path / "run_summaries").iterdir()] == [Path(where).name]  # no temp left


def test_a_summary_an_older_version_left_in_runs_is_read_and_moved(tmp_path: Path) -> None:
    """Before the `runs` table, summaries lived in runs/: still read, and moved out of the table's folder."""
    store = DatasetStore(str(tmp_path))
    legacy = tmp_path / "runs" / "old.json"
    legacy.parent.mkdir()
    legacy.write_text('{"data_quality": "passed"}')
    assert store.read_run_summary("old") == {"data_quality": "passed"}
    assert store.read("runs").num_rows == 0 and store.skipped == []  # not a damaged table file
    store.write_run_summary(RUN, {"data_quality": "failed"})
    assert not legacy.exists()
    assert store.read_run_summary("old") == {"data_quality": "passed"}


def test_a_summary_that_is_not_json_is_an_error_naming_the_file(tmp_path: Path) -> None:
    from meshmark_tasks.errors import StoreError

    store = DatasetStore(str(tmp_path))
    where = Path(store.write_run_summary(RUN, {}))
    where.write_bytes(b"\xff{")
    with pytest.raises(StoreError, match=f"{where.name}: not a JSON run summary"):
        store.read_run_summary(RUN)
