"""Run summaries (runs/<run>.json): written atomically, read back, replaced on re-run."""

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
    assert where.endswith("runs/manual__2026-11-26T02~3A00~3A00~2B00~3A00.json")
    store.write_run_summary(RUN, {"data_quality": "passed_with_quarantine", "cells_scored": 5})
    assert store.read_run_summary(RUN) == {"data_quality": "passed_with_quarantine", "cells_scored": 5}
    if kind == "local":
        assert [p.name for p in (tmp_path / "runs").iterdir()] == [Path(where).name]  # no temp left
