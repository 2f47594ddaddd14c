"""The README's main job, for real: `meshmark nightly` runs the DAG on the local testbed end to end.

Short cells (one load point, 2 s windows) keep it affordable; everything else is the shipped
demo profile: real app, real Caddy sidecars (plain and mTLS), real k6, psutil sampling, GX
validation, scoring, Parquet, and the trend report DAG afterwards. The same logical run is then
run again: its rows are replaced, never duplicated.
"""

from __future__ import annotations

import json
import re
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


def _run_info(tmp: Path) -> dict:
    return json.loads((tmp / "airflow" / "last_nightly_run.json").read_text())


@pytest.fixture(scope="module")
def two_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, list[tuple[subprocess.CompletedProcess[str], dict]]]:
    tmp = tmp_path_factory.mktemp("nightly")
    runs = []
    for _ in range(2):
        proc = _nightly(tmp)
        assert proc.returncode == 0, proc.stderr[-6000:]
        runs.append((proc, _run_info(tmp)))
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
    info = runs[0][1]
    kubernetes_branch = {"render_pods", "loadgen", "collect"}
    assert {info["tasks"][t] for t in kubernetes_branch} == {"skipped"}  # the branch took the local path
    assert {s for t, s in info["tasks"].items() if t not in kubernetes_branch} == {"success"}
    assert "run_cell[2]" in info["tasks"]


def test_each_cell_keeps_its_raw_output_and_the_testbed_account(two_runs) -> None:
    from meshmark_tasks.storage import DatasetStore

    tmp, _runs = two_runs
    store = DatasetStore(str(tmp / "data"))
    results = store.read("results").to_pandas()
    for row in results.to_dict("records"):
        raw = tmp / "data" / row["raw_path"]
        assert raw.name.endswith(".k6.json.gz") and raw.is_file()  # kept gzip-compressed
        assert json.loads(store.read_raw(row["raw_path"]))["metrics"]  # k6's summary, as k6 wrote it
        details = json.loads(store.read_raw(row["raw_path"].replace(".k6.json.gz", ".testbed.json.gz")))
        assert details["cell_id"] == row["cell_id"]
        assert set(details["phases_s"]) >= {"start_and_ready", "warmup", "measured", "teardown"}
        assert details["phases_s"]["measured"] >= row["duration_s"]


def test_paths_are_printed_and_the_report_exists(two_runs) -> None:
    tmp, runs = two_runs
    out = runs[0][0].stdout
    assert f"parquet dataset: {tmp / 'data'}" in out
    assert f"report:          {tmp / 'data'}/reports/latest/index.html" in out
    assert (tmp / "data" / "reports" / "latest" / "index.html").exists()
    summary = json.loads(next((tmp / "data" / "run_summaries").glob("*.json")).read_text())
    assert summary["data_quality"] in ("passed", "passed_with_quarantine")
    assert Path(summary["data_docs"]).exists()


def test_the_console_shows_progress_and_nothing_a_user_cannot_act_on(two_runs) -> None:
    _tmp, runs = two_runs
    stderr = runs[0][0].stderr
    lines = stderr.splitlines()
    # No Airflow/structlog warning or error line in a successful run, on either stream (structlog
    # prints them as "[warning  ]" / "[error    ]" on stdout; the standard library as "WARNING").
    stdout = runs[0][0].stdout.splitlines()
    noisy = [
        line
        for line in lines + stdout
        if re.search(r"\[(warning|error|critical)\s*\]|\b(WARNING|ERROR)\b", line)
    ]
    assert noisy == []
    assert [line.split(":")[0] for line in stdout] == ["parquet dataset", "report"]
    # One line per cell as it finishes, with its result, then the run's table.
    cell_lines = [
        line for line in lines if re.search(r"cell [1-3]/3 \S+: [0-9.]+ QPS of 100 requested", line)
    ]
    assert len(cell_lines) == 3, stderr
    assert all("p50" in line and "p99" in line and "CPU app" in line for line in cell_lines)
    assert any("MeshMark sidecar-mtls" in line for line in lines), stderr
    assert any(re.search(r"cells\s+3 scored, 0 quarantined of 3 planned", line) for line in lines), stderr


def test_rerunning_the_same_logical_run_keeps_one_copy(two_runs) -> None:
    from meshmark_tasks.storage import DatasetStore

    tmp, runs = two_runs
    assert runs[0][1]["dag_run"] == runs[1][1]["dag_run"]
    store = DatasetStore(str(tmp / "data"))
    for table in ("results", "meshmark", "meshmark_config"):
        frame = store.read(table).to_pandas()
        assert len(frame) == 3, table
        assert frame["run_id"].nunique() == 1
    assert len(list((tmp / "data" / "results").rglob("*.parquet"))) == 1


def _bytes_under(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_a_run_stores_little_besides_its_parquet(two_runs) -> None:
    """docs/data-model.md "Storage per run": what every run repeats (GX's static files, style
    sheet and suite pages, plotly.js) is stored once per root, raw outputs are gzip-compressed,
    and the rest of a run besides its Parquet stays under 300 KB."""
    tmp, _runs = two_runs
    root = tmp / "data"
    (run_docs,) = [p for p in (root / "data_docs").iterdir() if not p.name.startswith("~")]
    (raw,) = (root / "raw").iterdir()
    (summary,) = (root / "run_summaries").iterdir()
    (report,) = [p for p in (root / "reports").iterdir() if p.name[:1].isdigit()]
    stored = {
        "raw": _bytes_under(raw),
        "run summary": summary.stat().st_size,
        "data docs": _bytes_under(run_docs),
        "report": _bytes_under(report),
    }
    assert sum(stored.values()) < 300_000, stored  # the target for a demo run
    shared = {p.name for p in (root / "data_docs").iterdir() if p.name.startswith("~")}
    assert shared == {"~static", "~styles", "~expectations"}
