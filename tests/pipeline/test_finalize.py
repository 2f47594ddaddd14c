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


def _measurement(
    cell: dict[str, Any], *, p50: float, dataplane: float | None, failure: str | None = None, qps: float = 100
):
    c = Cell.model_validate(cell)
    if failure:
        return {"measurement": CellMeasurement(c, None, None, None, "k6", failure=failure).to_json_dict()}
    result = NormalizedResult(
        load_generator="k6",
        load_generator_version="1.1.0",
        requested_qps=qps,
        actual_qps=qps * 0.995,
        connections=8,
        duration_s=5,
        requests_total=int(qps * 0.995 * 5),
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


def test_repetitions_give_intervals_and_significance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    data = yaml.safe_load((Path(__file__).resolve().parents[2] / "profiles" / "local-demo.yaml").read_text())
    data["repetitions"] = 4
    profile = tmp_path / "rounds.yaml"
    profile.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("MESHMARK_STORAGE_ROOT", str(tmp_path / "data"))
    plan = plan_run({"profile": str(profile), "qps": [100], "duration_s": 5})
    drift = [1.0, 1.08, 0.95, 1.03]  # the machine's state per round, shared by its cells
    overhead = {
        "baseline": [1.0] * 4,
        "sidecar": [1.5, 1.55, 1.45, 1.6],
        "sidecar-mtls": [1.9, 1.8, 2.0, 1.85],
    }
    outputs = [
        _measurement(
            cell,
            p50=drift[cell["repetition"]] * overhead[cell["mesh"]][cell["repetition"]],
            dataplane=0.0 if cell["mesh"] == "baseline" else 0.3 * overhead[cell["mesh"]][cell["repetition"]],
        )
        for cell in plan["cells"]
    ]
    summary = finalize_run(plan, outputs, run_id=RUN, run_date=DAY)
    store = DatasetStore(str(tmp_path / "data"))
    results = store.read("results").to_pandas()
    assert sorted(zip(results["sequence"], results["round"], results["mesh"], strict=True))[:3] == [
        (0, 0, "baseline"),
        (1, 0, "sidecar"),
        (2, 0, "sidecar-mtls"),
    ]
    rows = store.read("meshmark_summary").to_pandas().set_index("mesh")
    assert list(rows.index) == ["baseline", "sidecar", "sidecar-mtls"]
    assert (rows["repetitions_used"] == 4).all()
    assert rows["latency_ms_p50_ci_low"].notna().all() and rows["ci_level"].eq(0.875).all()
    mtls = rows.loc["sidecar-mtls"]
    assert mtls["pairs_used"] == 4
    assert mtls["delta_p50_pct_ci_low"] < mtls["delta_p50_pct"] < mtls["delta_p50_pct_ci_high"]
    assert bool(mtls["delta_p50_significant"]) and mtls["delta_p50_p_value"] < 0.05
    assert mtls["meshmark_delta"] < 0 and bool(mtls["meshmark_delta_significant"])
    configs = store.read("meshmark_config").to_pandas().set_index("mesh")
    assert configs.loc["sidecar", "meshmark_ci_low"] < configs.loc["sidecar", "meshmark_mean"]
    assert bool(configs.loc["sidecar-mtls", "meshmark_delta_significant"])
    by_mesh = summary["meshmark_uncertainty_by_mesh"]
    assert by_mesh["sidecar"]["significant"] is True and by_mesh["sidecar"]["repetitions_used"] == 4
    assert by_mesh["baseline"]["delta_vs_baseline"] is None and by_mesh["baseline"]["significant"] is None
    assert "meshmark_summary" in summary["tables"]


def test_every_table_carries_the_run_and_a_config_short_of_load_points_is_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHMARK_STORAGE_ROOT", str(tmp_path / "data"))
    plan = plan_run({"qps": [100, 200], "duration_s": 5})
    started = datetime(2026, 11, 24, 2, 0, 3, tzinfo=UTC)
    outputs = []
    for cell in plan["cells"]:
        if cell["mesh"] == "sidecar" and cell["requested_qps"] == 200:
            outputs.append(_measurement(cell, p50=0, dataplane=0, failure="k6 exited with code 1"))
        else:
            p50 = 1.0 if cell["is_baseline"] else 1.6
            outputs.append(_measurement(cell, p50=p50, dataplane=0.2, qps=cell["requested_qps"]))
    summary = finalize_run(plan, outputs, run_id=RUN, run_date=DAY, run_ts=started)

    store = DatasetStore(str(tmp_path / "data"))
    for table in ("results", "meshmark", "meshmark_config", "quarantine", "runs"):
        rows = store.read(table).to_pylist()
        assert rows and {r["run_ts"] for r in rows} == {started}, table
        assert {(r.get("profile"), r.get("backend")) for r in rows} == {("local-demo", "local")}, table
    configs = {r["mesh"]: r for r in store.read("meshmark_config").to_pylist()}
    assert (configs["sidecar"]["load_points_scored"], configs["sidecar"]["load_points_planned"]) == (1, 2)
    assert configs["sidecar"]["partial"] is True
    assert configs["baseline"]["partial"] is False and configs["sidecar-mtls"]["partial"] is False
    assert summary["meshes_partial"] == ["sidecar"]
    assert {r["cost_currency"] for r in store.read("meshmark").to_pylist()} == {"USD"}
    (quarantined,) = store.read("quarantine").to_pylist()
    assert quarantined["reasons_text"] == "k6 exited with code 1"
    (run,) = store.read("runs").to_pylist()
    assert (run["run_id"], run["data_quality"], run["cells_planned"], run["cells_quarantined"]) == (
        RUN,
        "passed_with_quarantine",
        6,
        1,
    )
    assert run["load_generator"] == "k6" and "k6=1.1.0" in run["tool_versions"]
    # local rows have their measured window
    assert all(r["start_time"] and r["end_time"] for r in store.read("results").to_pylist())


def test_data_docs_shared_parts_are_stored_once_per_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GX's 4 MB of static files and the expectation-suite pages (the same every run) are stored
    once and shared by every run's Data Docs, linked relatively: every page opens from disk."""
    plan = _plan(tmp_path, monkeypatch)
    outputs = [_measurement(c, p50=1.0 if c["is_baseline"] else 1.6, dataplane=0.2) for c in plan["cells"]]
    first = finalize_run(plan, outputs, run_id=RUN, run_date=DAY)
    docs = tmp_path / "data" / "data_docs"
    suite_pages = {p: p.stat().st_mtime_ns for p in (docs / "~expectations").rglob("*.html")}
    second = finalize_run(plan, outputs, run_id="manual__second", run_date=DAY)

    (shared,) = (docs / "~static").iterdir()  # one copy for both runs
    assert sum(p.stat().st_size for p in shared.rglob("*") if p.is_file()) > 1_000_000
    # the structure, results and planned-cells suites: one page each, not written again
    assert sorted(p.name for p in suite_pages) == [
        "meshmark_planned_cells.html",
        "meshmark_results.html",
        "meshmark_results_structure.html",
    ]
    assert {p: p.stat().st_mtime_ns for p in (docs / "~expectations").rglob("*.html")} == suite_pages
    for summary in (first, second):
        run_docs = Path(summary["data_docs"]).parent
        assert not (run_docs / "static").exists() and not (run_docs / "expectations").exists()
        pages = list(run_docs.rglob("*.html"))
        assert len(pages) == 4  # the index and three validation pages
        for page in pages + list(suite_pages):
            links = re.findall(r'(?:href|src)="([^"#:?]+)(?:[#?][^"]*)?"', page.read_text())
            assert any("~static/" in link for link in links), page
            assert all((page.parent / link).resolve().is_file() for link in links), (page, links)
        linked = {
            (page.parent / link).resolve()
            for page in pages
            for link in re.findall(r'href="([^"]*~expectations/[^"]+)"', page.read_text())
        }
        assert linked == set(suite_pages)
        stored = sum(p.stat().st_size for p in run_docs.rglob("*") if p.is_file())
        assert stored < 300_000, stored
