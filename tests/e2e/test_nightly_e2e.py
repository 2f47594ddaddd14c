"""End to end through the real Airflow services: trigger meshmark_nightly over the REST API with a
conf as the UI's trigger form posts it, wait for success, then check the Parquet dataset and the
trend report that the asset-scheduled meshmark_trend_report DAG writes.

Needs PostgreSQL (installed and started by scripts/) and runs a real local testbed (k6, Caddy).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

# The stack fixture's type lives in conftest.py, which test modules cannot import by name.
AirflowStack = Any

pytestmark = [pytest.mark.services, pytest.mark.slow]

NIGHTLY = "meshmark_nightly"
TREND_REPORT = "meshmark_trend_report"
MESHES = ["baseline", "sidecar"]
# Every parameter of the form, as the UI sends it: defaults included, overrides filled in.
CONF: dict[str, Any] = {
    "profile": "local-demo",
    "backend": "local",
    "meshes": MESHES,
    "qps": [100],
    "connections": [],
    "duration_s": 3,
}
RUN_TIMEOUT_S = 600


def read_table(stack: AirflowStack, table: str) -> Any:
    path = stack.storage_root / table
    assert path.is_dir(), f"no {table} table under the storage root {stack.storage_root}"
    return ds.dataset(str(path), format="parquet", partitioning="hive").to_table()


def wait_for_parsed(stack: AirflowStack, dag_id: str) -> dict[str, Any]:
    try:
        return stack.wait_for_dag(dag_id)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\nimport errors: {stack.import_errors()}") from exc


def test_trigger_params_are_the_profile_parameters(airflow_stack: AirflowStack) -> None:
    """The API serves the form's parameters with the profiles found in profiles/ as the enum."""
    wait_for_parsed(airflow_stack, NIGHTLY)
    details = airflow_stack.api_json("GET", f"/dags/{NIGHTLY}/details")
    params = details["params"]
    assert set(CONF) <= set(params), f"trigger form parameters: {sorted(params)}"
    profile_schema = params["profile"]["schema"]
    stems = sorted(p.stem for p in Path(airflow_stack.env["MESHMARK_PROFILES_DIR"]).glob("*.yaml"))
    assert sorted(profile_schema["enum"]) == stems
    assert params["profile"]["value"] == "local-demo"


def test_nightly_run_writes_dataset_and_trend_report(airflow_stack: AirflowStack) -> None:
    stack = airflow_stack
    wait_for_parsed(stack, NIGHTLY)
    wait_for_parsed(stack, TREND_REPORT)
    # The trend report is scheduled on the results asset, and active from the start: nobody has
    # to find out that it needs unpausing. The nightly DAG is paused until someone switches it on.
    assert stack.api_json("GET", f"/dags/{TREND_REPORT}")["is_paused"] is False
    stack.unpause(NIGHTLY)

    started = time.monotonic()
    run_id = stack.trigger(NIGHTLY, CONF)
    others = [
        r["dag_run_id"]
        for r in stack.api_json("GET", f"/dags/{NIGHTLY}/dagRuns")["dag_runs"]
        if r["dag_run_id"] != run_id
    ]
    assert not others, f"unexpected runs next to the triggered one (a scheduled run?): {others}"
    state = stack.wait_for_run(NIGHTLY, run_id, RUN_TIMEOUT_S)
    print(f"{NIGHTLY} run {run_id}: {state} after {time.monotonic() - started:.0f} s")
    assert state == "success", stack.describe_run(NIGHTLY, run_id)

    results = read_table(stack, "results")
    assert results.num_rows > 0
    assert sorted(set(results.column("mesh").to_pylist())) == sorted(MESHES)
    assert set(results.column("requested_qps").to_pylist()) == {100.0}, "the conf's qps override was ignored"
    assert set(results.column("profile").to_pylist()) == {"local-demo"}
    assert set(results.column("backend").to_pylist()) == {"local"}
    assert pc.min(results.column("requests_total")).as_py() > 0
    assert set(results.column("run_id").to_pylist()) == {run_id}

    meshmark = read_table(stack, "meshmark")
    assert sorted(set(meshmark.column("mesh").to_pylist())) == sorted(MESHES)
    scores = [s for s in meshmark.column("meshmark").to_pylist() if s is not None]
    assert scores, "no cell was scored"
    assert all(0.0 <= s <= 100.0 for s in scores)

    config = read_table(stack, "meshmark_config")
    assert sorted(config.column("mesh").to_pylist()) == sorted(MESHES)

    # The results asset event schedules the trend report; it writes reports/latest/.
    def report_run_state() -> str | None:
        runs = stack.api_json(
            "GET", f"/dags/{TREND_REPORT}/dagRuns", params={"order_by": "-run_after", "limit": 5}
        )["dag_runs"]
        asset_runs = [r for r in runs if r["run_type"] == "asset_triggered"]
        if asset_runs and asset_runs[0]["state"] in ("success", "failed"):
            return f"{asset_runs[0]['dag_run_id']}:{asset_runs[0]['state']}"
        return None

    report_run = stack.wait_until(f"an asset-triggered {TREND_REPORT} run", report_run_state, 300, 3.0)
    report_run_id, report_state = report_run.rsplit(":", 1)
    assert report_state == "success", stack.describe_run(TREND_REPORT, report_run_id)

    index = stack.storage_root / "reports" / "latest" / "index.html"
    assert index.is_file(), f"no trend report at {index}"
    html = index.read_text()
    for mesh in MESHES:
        assert mesh in html, f"the trend report does not mention mesh {mesh!r}"
