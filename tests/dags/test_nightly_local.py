"""The README's main job, for real: `meshmark nightly` runs the DAG on the local testbed end to end.

Short cells (one load point, 2 s windows) keep it affordable; everything else is the shipped
demo profile: real app, real Caddy sidecars (plain and mTLS), real k6, psutil sampling, GX
validation, scoring, Parquet, and the trend report DAG afterwards. The same logical run is then
run again: its rows are replaced, never duplicated.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOGICAL_DATE = "2026-11-25T02:00:00+00:00"

pytestmark = [pytest.mark.testbed, pytest.mark.slow]


def _nightly(tmp: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "meshmark_tasks.cli", "nightly", "--qps", "100", "--duration-s", "2"]
    cmd += ["--logical-date", LOGICAL_DATE, "--storage-root", str(tmp / "data")]
    cmd += ["--airflow-home", str(tmp / "airflow")]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=900)


def _run_info(stderr: str) -> dict:
    return json.loads(next(line for line in stderr.splitlines() if line.startswith('{"dag_run"')))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    tmp = tmp_path_factory.mktemp("nightly")
    runs = [_nightly(tmp), _nightly(tmp)]
    for proc in runs:
        assert proc.returncode == 0, proc.stderr[-6000:]
    return tmp, runs


def test_the_nightly_run_scores_every_mesh(two_runs) -> None:
    from meshmark_tasks.storage import DatasetStore

    tmp, runs = two_runs
    store = DatasetStore(str(tmp / "data"))
    results = store.read("results").to_pandas()
    assert sorted(results["mesh"]) == ["baseline", "sidecar", "sidecar-mtls"]
    assert set(results["backend"]) == {"local"}
    assert (results["requests_total"] > 0).all()
    # Real measurement: the sidecars used CPU, the baseline has none in its data plane.
    by_mesh = results.set_index("mesh")
    assert by_mesh.loc["baseline", "cpu_cores_dataplane"] == 0
    assert by_mesh.loc["sidecar", "cpu_cores_dataplane"] > 0
    configs = store.read("meshmark_config").to_pandas()
    assert sorted(configs["mesh"]) == ["baseline", "sidecar", "sidecar-mtls"]
    assert configs["meshmark_mean"].between(0, 100).all()
    info = _run_info(runs[0].stderr)
    kubernetes_branch = {"render_pods", "loadgen", "collect"}
    assert {info["tasks"][t] for t in kubernetes_branch} == {"skipped"}  # the branch took the local path
    assert {s for t, s in info["tasks"].items() if t not in kubernetes_branch} == {"success"}
    assert "run_cell[2]" in info["tasks"]


def test_paths_are_printed_and_the_report_exists(two_runs) -> None:
    tmp, runs = two_runs
    out = runs[0].stdout
    assert f"parquet dataset: {tmp / 'data'}" in out
    assert f"report:          {tmp / 'data'}/reports/latest/index.html" in out
    assert (tmp / "data" / "reports" / "latest" / "index.html").exists()
    summary = json.loads(next((tmp / "data" / "run_summaries").glob("*.json")).read_text())
    assert summary["data_quality"] in ("passed", "passed_with_quarantine")
    assert Path(summary["data_docs"]).exists()


def test_rerunning_the_same_logical_run_keeps_one_copy(two_runs) -> None:
    from meshmark_tasks.storage import DatasetStore

    tmp, runs = two_runs
    assert _run_info(runs[0].stderr)["dag_run"] == _run_info(runs[1].stderr)["dag_run"]
    store = DatasetStore(str(tmp / "data"))
    for table in ("results", "meshmark", "meshmark_config"):
        frame = store.read(table).to_pandas()
        assert len(frame) == 3, table
        assert frame["run_id"].nunique() == 1
    assert len(list((tmp / "data" / "results").rglob("*.parquet"))) == 1
