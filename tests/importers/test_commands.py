"""`meshmark import …` and `meshmark export smp` through the real entry point and a real store."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import synthetic  # tests/support, on sys.path from tests/conftest.py

from meshmark_tasks.adapters import parse_text
from meshmark_tasks.cli import main
from meshmark_tasks.importers import RESULT_COLUMNS
from meshmark_tasks.pipeline.publish import publish_run
from meshmark_tasks.storage import DatasetStore

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MESHERY = FIXTURES / "meshery" / "meshery-results.json"
ISTIO_CURRENT = FIXTURES / "istio-csv" / "istio-proxy-current.csv"


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip().startswith("{") else out), err


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _rows(store: DatasetStore, table: str, run_id: str) -> list[dict[str, Any]]:
    return store.read(table, run_id=run_id).to_pylist()


def test_meshery_results_become_runs_with_raw_outputs_scores_and_quarantine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    code, out, err = run_cli(
        ["import", "meshery", str(MESHERY), "--data", str(root), "--slo-p99-ms", "10"], capsys
    )
    assert code == 0, err
    runs = {r["run_id"]: r for r in out["runs"]}
    assert [r["status"] for r in out["runs"]] == ["imported"] * 3
    istio = runs["meshery-6d2b4a53-9a38-4c52-9c4c-0c3a3c1e6a10"]
    assert (istio["data_quality"], istio["cells_scored"], istio["backend"]) == ("passed", 1, "import:meshery")
    assert "meshmark: imported run meshery-6d2b4a53" in err

    store = DatasetStore(str(root))
    (row,) = _rows(store, "results", istio["run_id"])
    assert (row["cell_id"], row["backend"], row["run_date"]) == (
        "istio-q40-c2-b3-http-r0",
        "import:meshery",
        dt.date(2022, 3, 19),
    )
    assert row["cpu_cores_dataplane"] is None and row["mem_bytes_assigned"] is None  # null, not 0
    # The raw output is kept and re-reads to the same measurement.
    raw = Path(store.raw_url(row["raw_path"]))
    assert row["raw_path"] == f"raw/{istio['run_id']}/istio-q40-c2-b3-http-r0.json"
    assert parse_text(raw.read_text(), "fortio", source=str(raw)).latency_ms_p50 == row["latency_ms_p50"]
    # Scored on what the result has: no compute/memory class (no resource figures).
    (score,) = _rows(store, "meshmark", istio["run_id"])
    assert score["scored_classes"] == "network,delivery"
    assert score["mue_latency_slo"] == pytest.approx(1 - row["latency_ms_p99"] / 10)
    assert 0 < score["meshmark"] <= 100

    # Every request of the third result failed: the run is stored, with its reason and raw output.
    failed = runs["meshery-e4c8d7e2-6a9b-4f0e-b2a1-7c3d5e9f1b44"]
    assert (failed["data_quality"], failed["cells_scored"], failed["cells_quarantined"]) == ("failed", 0, 1)
    (quarantined,) = _rows(store, "quarantine", failed["run_id"])
    assert quarantined["stage"] == "run"
    assert quarantined["reasons"] == [
        '[2].runner_results: all 4 requests failed (RetCodes {"-1": 4}; -1 counts connection/socket errors)'
    ]
    assert Path(store.raw_url(quarantined["raw_path"])).is_file()
    summary = store.read_run_summary(failed["run_id"])
    assert summary is not None
    assert summary["backend"] == "import:meshery"
    assert summary["import"]["format"] == "meshery" and summary["import"]["name"] == "linkerd_1647729600500"
    assert summary["data_quality"] == "failed"
    # The import suite validated the rows (the nightly one would have quarantined them).
    index = Path(store.data_docs_index(istio["run_id"]) or "")
    assert "meshmark_results_import" in index.read_text()


def test_importing_the_same_file_twice_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    argv = ["import", "meshery", str(MESHERY), "--data", str(root)]
    assert run_cli(argv, capsys)[0] == 0
    before = snapshot(root)
    code, out, _ = run_cli(argv, capsys)
    assert code == 0
    assert [r["status"] for r in out["runs"]] == ["unchanged"] * 3
    assert snapshot(root) == before  # not one byte written: tables, raw outputs, summaries, Data Docs

    # Other options change the scores: the runs are rewritten, never duplicated.
    code, out, _ = run_cli([*argv, "--slo-p99-ms", "5"], capsys)
    assert [r["status"] for r in out["runs"]] == ["imported"] * 3
    store = DatasetStore(str(root))
    results = store.read("results").to_pandas()
    assert len(results) == 2 and results["cell_id"].is_unique
    assert set(results["slo_p99_ms"]) == {5.0}
    assert store.read("meshmark").num_rows == 2
    assert len(list((root / "results").rglob("*.parquet"))) == 3  # one file per run
    # --force rewrites a run the store holds unchanged.
    code, out, _ = run_cli([*argv, "--slo-p99-ms", "5", "--force"], capsys)
    assert [r["status"] for r in out["runs"]] == ["imported"] * 3


def test_istio_csv_proxies_are_the_data_plane_and_the_baseline_mode_the_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    code, out, err = run_cli(
        ["import", "istio-csv", str(ISTIO_CURRENT), "--data", str(root), "--run-id", "istio-1.24-bench"],
        capsys,
    )
    assert code == 0, err
    (run,) = out["runs"]
    assert (run["run_id"], run["backend"], run["data_quality"]) == (
        "istio-1.24-bench",
        "import:istio-csv",
        "passed",
    )
    store = DatasetStore(str(root))
    results = store.read("results", run_id="istio-1.24-bench").to_pandas().set_index("cell_id")
    scores = store.read("meshmark", run_id="istio-1.24-bench").to_pandas().set_index("cell_id")
    meshes = results[~results["is_baseline"]]
    assert meshes["cpu_cores_dataplane"].notna().all() and meshes["cpu_cores_app"].isna().all()
    # Paired with the baseline mode at the same load point: overheads are known, resources are not whole.
    both = scores.loc[[c for c in scores.index if c.startswith("none-mtls-both")]]
    assert both["delta_p50_ms"].notna().all() and both["mue_latency_overhead"].notna().all()
    assert both["mue_cpu"].isna().all()  # no app CPU, no assigned CPU: the compute class is left out
    raw = Path(store.raw_url(results["raw_path"].iloc[0])).read_text().splitlines()
    assert raw[0].startswith("StartTime,") and len(raw) == 2  # the header and the cell's own line


def test_a_bad_file_among_good_ones_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    bad = tmp_path / "second.json"
    bad.write_text(MESHERY.read_text()[:900])
    code, out, err = run_cli(["import", "meshery", str(MESHERY), str(bad), "--data", str(root)], capsys)
    assert code == 2 and out == ""
    assert err.strip().startswith(f"meshmark: error: {bad}: not valid JSON")
    assert not root.exists()


@pytest.fixture(scope="module")
def nightly_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[DatasetStore, str]:
    """One nightly-shaped run (resources, SLO, saturation known) published the nightly way."""
    spec = synthetic.SyntheticHistory(first_date=dt.date(2026, 11, 1), nights=1)
    frame = synthetic.night_results(spec, 0, np.random.default_rng(5))
    store = DatasetStore(str(tmp_path_factory.mktemp("nightly")))
    run_id = str(frame["run_id"].iloc[0])
    publish_run(
        store,
        frame.drop(columns=["run_id", "run_date"]),
        run_id=run_id,
        run_date=frame["run_date"].iloc[0],
        run_fields={"profile": "synthetic", "backend": "synthetic"},
    )
    return store, run_id


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_export_then_import_smp_reproduces_the_rows(
    nightly_store: tuple[DatasetStore, str], fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, run_id = nightly_store
    document = tmp_path / f"run.{fmt}"
    code, _, err = run_cli(
        ["export", "smp", "--data", source.root, "--run", run_id, "--out", str(document)], capsys
    )
    assert code == 0, err
    assert f"written to {document}" in err
    assert document.read_text().startswith("{" if fmt == "json" else "kind: meshmark.smp-export")

    target = tmp_path / "other-store"
    code, out, err = run_cli(["import", "smp", str(document), "--data", str(target)], capsys)
    assert code == 0, err
    assert out["runs"][0]["run_id"] == run_id
    imported = DatasetStore(str(target))

    def frame(store: DatasetStore, table: str) -> pd.DataFrame:
        rows = store.read(table, run_id=run_id).to_pandas()
        return rows.sort_values("cell_id").reset_index(drop=True)

    original, back = frame(source, "results"), frame(imported, "results")
    columns = [c for c in ["run_id", "run_date", *RESULT_COLUMNS] if c != "raw_path"]
    pd.testing.assert_frame_equal(back[columns], original[columns])
    assert back["raw_path"].nunique() == 1 and back["raw_path"].iloc[0].endswith(f"/smp-document.{fmt}")
    assert Path(imported.raw_url(back["raw_path"].iloc[0])).read_bytes() == document.read_bytes()
    # Scored again with the same rules: the same MeshMark rows (the run-level columns say the import).
    from meshmark_tasks.schemas import RUN_LEVEL_COLUMNS

    scores = [c for c in frame(source, "meshmark").columns if c not in RUN_LEVEL_COLUMNS]
    pd.testing.assert_frame_equal(frame(imported, "meshmark")[scores], frame(source, "meshmark")[scores])
    assert set(frame(imported, "meshmark")["backend"]) == {"import:smp"}
    assert imported.read_run_summary(run_id)["backend"] == "import:smp"  # type: ignore[index]


def test_export_to_stdout_is_json_by_default(
    nightly_store: tuple[DatasetStore, str], capsys: pytest.CaptureFixture[str]
) -> None:
    store, run_id = nightly_store
    code, out, _ = run_cli(["export", "smp", "--data", store.root, "--run", run_id], capsys)
    assert code == 0
    assert out["kind"] == "meshmark.smp-export"
    assert len(out["performance_test_results"]) == store.read("results", run_id=run_id).num_rows
