"""Run the nightly DAG (and then the trend report DAG) under a project-local Airflow.

`meshmark nightly` uses this: an AIRFLOW_HOME with SQLite inside the checkout, the repo's dags/,
the `meshmark_loadtest` pool, then `dag.test()` of meshmark_nightly and meshmark_trend_report.
The trend report normally runs on the results Asset event through the scheduler; dag.test() has no
scheduler, so it is run right after, as the Asset schedule would.

Run as `python -m meshmark_tasks.pipeline.airflow_local CONF_JSON`; the environment must be set
before Airflow is imported, which is why this is a separate process (see airflow_env()).
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
NIGHTLY_DAG_ID = "meshmark_nightly"
REPORT_DAG_ID = "meshmark_trend_report"


def airflow_env(airflow_home: Path, storage_root: str) -> dict[str, str]:
    """Environment for a self-contained local Airflow: SQLite, no examples, the repo's DAGs."""
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
        "MESHMARK_STORAGE_ROOT": storage_root,
    }


def _prepare_database() -> None:
    from airflow.models.pool import Pool
    from airflow.utils.db import initdb

    from meshmark_tasks.constants import LOADTEST_POOL

    initdb()  # creates the tables on first use, a quick check afterwards
    Pool.create_or_update_pool(
        name=LOADTEST_POOL,
        slots=1,
        description="Serializes MeshMark load tests so they never overlap",
        include_deferred=True,  # a deferred pod task still holds its load test's slot
    )


def _dag(dag_id: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {json.dumps(bag.import_errors, indent=2)}")
    return bag.dags[dag_id]


def run(conf: dict[str, Any], logical_date: str | None = None) -> int:
    from meshmark_tasks.config import storage_root

    _prepare_database()
    nightly = _dag(NIGHTLY_DAG_ID)
    when = datetime.fromisoformat(logical_date) if logical_date else datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    started = time.perf_counter()
    # run_after = logical date: the run id derives from it, so the same logical run keeps its id.
    run = nightly.test(run_conf=conf, logical_date=when, run_after=when)
    wall_s = time.perf_counter() - started
    states = {
        ti.task_id + (f"[{ti.map_index}]" if ti.map_index >= 0 else ""): str(ti.state)
        for ti in run.get_task_instances()
    }
    print(
        json.dumps({"dag_run": run.run_id, "state": str(run.state), "wall_s": wall_s, "tasks": states}),
        file=sys.stderr,
    )
    if str(run.state) != "success":
        print(f"meshmark: nightly run {run.run_id} ended {run.state}", file=sys.stderr)
        return 1
    report = _dag(REPORT_DAG_ID).test()
    root = storage_root()
    print(f"parquet dataset: {root}  (tables: results, meshmark, meshmark_config, quarantine)")
    print(f"report:          {root}/reports/latest/index.html  (report DAG run ended {report.state})")
    return 0 if str(report.state) == "success" else 1


if __name__ == "__main__":
    sys.exit(run(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}, *sys.argv[2:3]))
