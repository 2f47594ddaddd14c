"""finalize_run without Airflow: failed tests and bad rows are quarantined, the rest is scored."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from meshmark_tasks.matrix import Cell
from meshmark_tasks.measurement import CellMeasurement, ResourceUsage
from meshmark_tasks.pipeline.nightly import finalize_run, plan_run
from meshmark_tasks.pipeline.publish import RunFailedError
from meshmark_tasks.result import NormalizedResult
from meshmark_tasks.storage import DatasetStore

RUN = "manual__2026-11-24T02:00:00+00:00"
DAY = date(2026, 11, 24)


def _plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("MESHMARK_STORAGE_ROOT", str(tmp_path / "data"))
    return plan_run({"qps": [100], "duration_s": 5})


def _measurement(cell: dict[str, Any], *, p50: float, dataplane: float | None, failure: str | None = None):
    c = Cell.model_validate(cell)
    if failure:
        return {"measurement": CellMeasurement(c, None, None, None, "k6", failure=failure).to_json_dict()}
    result = NormalizedResult(
        load_generator="k6",
        load_generator_version="1.1.0",
        requested_qps=100,
        actual_qps=99.5,
        connections=8,
        duration_s=5,
        requests_total=498,
        errors_total=0,
        latency_ms_min=p50 / 2,
        latency_ms_mean=p50 * 1.1,
        latency_ms_p50=p50,
        latency_ms_p90=p50 * 1.5,
        latency_ms_p99=p50 * 2,
        latency_ms_max=p50 * 3,
        start_time=datetime(2026, 11, 24, 2, tzinfo=UTC),
        end_time=datetime(2026, 11, 24, 2, 0, 5, tzinfo=UTC),
    )
    resources = (
        None
        if dataplane is None
        else ResourceUsage(0.1, dataplane, 0.0, 60e6, 40e6 if dataplane else 0.0, 0.0)
    )
    return {"measurement": CellMeasurement(c, result, resources, None, "k6").to_json_dict(), "raw_path": None}


def test_a_fully_quarantined_mesh_is_recorded_and_the_rest_scored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _plan(tmp_path, monkeypatch)
    baseline, sidecar, mtls = plan["cells"]
    outputs = [
        _measurement(baseline, p50=1.0, dataplane=0.0),
        _measurement(sidecar, p50=1.6, dataplane=0.3),
        _measurement(mtls, p50=1.9, dataplane=None),  # no resource metrics for a mesh cell
    ]
    summary = finalize_run(plan, outputs, run_id=RUN, run_date=DAY)

    assert summary["data_quality"] == "passed_with_quarantine"
    assert summary["meshes_fully_quarantined"] == ["sidecar-mtls"]
    assert (summary["cells_planned"], summary["cells_scored"], summary["cells_quarantined"]) == (3, 2, 1)
    store = DatasetStore(str(tmp_path / "data"))
    assert sorted(store.read("meshmark").column("mesh").to_pylist()) == ["baseline", "sidecar"]
    quarantine = store.read("quarantine").to_pylist()
    assert [q["cell_id"] for q in quarantine] == [mtls["cell_id"]]
    assert quarantine[0]["stage"] == "validation"
    assert any("cpu_cores_dataplane" in reason for reason in quarantine[0]["reasons"])
    assert store.read_run_summary(RUN)["meshes_fully_quarantined"] == ["sidecar-mtls"]
    assert Path(summary["data_docs"]).exists()


def test_a_failed_load_test_is_quarantined_at_the_run_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _plan(tmp_path, monkeypatch)
    baseline, sidecar, mtls = plan["cells"]
    outputs = [
        _measurement(baseline, p50=1.0, dataplane=0.0),
        _measurement(sidecar, p50=0, dataplane=0, failure="sidecar client exited with code -9 mid-test"),
        _measurement(mtls, p50=1.9, dataplane=0.4),
    ]
    summary = finalize_run(plan, outputs, run_id=RUN, run_date=DAY)
    assert summary["data_quality"] == "passed_with_quarantine"
    quarantine = DatasetStore(str(tmp_path / "data")).read("quarantine").to_pylist()
    assert [(q["cell_id"], q["stage"], q["reasons"]) for q in quarantine] == [
        (sidecar["cell_id"], "run", ["sidecar client exited with code -9 mid-test"])
    ]
    assert '"failure": "sidecar client exited' in quarantine[0]["row_json"]  # nothing is lost


def test_a_run_with_nothing_usable_fails_after_recording_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _plan(tmp_path, monkeypatch)
    outputs = [_measurement(c, p50=0, dataplane=0, failure="k6 could not connect") for c in plan["cells"]]
    with pytest.raises(
        RunFailedError, match=re.escape(f"run {RUN}: no cell passed (quarantine holds 3 rows")
    ):
        finalize_run(plan, outputs, run_id=RUN, run_date=DAY)
    store = DatasetStore(str(tmp_path / "data"))
    assert store.read("quarantine").num_rows == 3
    assert store.read("results").num_rows == 0
    assert store.read_run_summary(RUN)["data_quality"] == "failed"


def test_a_clean_run_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = _plan(tmp_path, monkeypatch)
    baseline, sidecar, mtls = plan["cells"]
    outputs = [
        _measurement(baseline, p50=1.0, dataplane=0.0),
        _measurement(sidecar, p50=1.6, dataplane=0.3),
        _measurement(mtls, p50=1.9, dataplane=0.4),
    ]
    summary = finalize_run(plan, outputs, run_id=RUN, run_date=DAY)
    assert (summary["data_quality"], summary["cells_scored"], summary["cells_quarantined"]) == (
        "passed",
        3,
        0,
    )
    assert summary["meshes_fully_quarantined"] == []
    assert list(summary["meshmark_by_mesh"]) == ["baseline", "sidecar", "sidecar-mtls"]
    assert summary["meshmark_by_mesh"]["baseline"] > summary["meshmark_by_mesh"]["sidecar-mtls"]
