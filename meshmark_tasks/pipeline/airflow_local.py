"""Run the nightly DAG (and then the trend report DAG) under a project-local Airflow.

`meshmark nightly` uses this: an AIRFLOW_HOME with SQLite inside the checkout, the repo's dags/,
the `meshmark_loadtest` pool, then `dag.test()` of meshmark_nightly and meshmark_trend_report.
The trend report normally runs on the results Asset event through the scheduler; dag.test() has no
scheduler, so it is run right after, as the Asset schedule would.

Run as `python -m meshmark_tasks.pipeline.airflow_local CONF_JSON`; the environment must be set
before Airflow is imported, which is why this is a separate process (see airflow_env()).

The console is for a person: Airflow's own output is kept at WARNING, the lines a user cannot act
on are dropped (see _quiet_airflow), each cell prints one line as it finishes, the run a short
table, and the end the paths. What a script needs (run id, state, wall time, task states) goes to
`<AIRFLOW_HOME>/last_nightly_run.json`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RUN_INFO_FILE = "last_nightly_run.json"
# '<pid> <start time>' of the process running DAGs under this AIRFLOW_HOME (lifecycle.owner_record).
OWNER_FILE = "nightly.owner"


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


def _dags() -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {json.dumps(bag.import_errors, indent=2)}")
    return dict(bag.dags)


class _SinceStart(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self.started = time.monotonic()

    def format(self, record: logging.LogRecord) -> str:
        return f"meshmark: [{time.monotonic() - self.started:5.1f} s] {record.getMessage()}"


def _show_progress() -> None:
    """Cell and run summaries (pipeline.summaries) straight to stderr, whatever Airflow's level."""
    from meshmark_tasks.pipeline.summaries import PROGRESS_LOGGER

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SinceStart())
    logger = logging.getLogger(PROGRESS_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _quiet_airflow() -> None:
    """Drop what a `make nightly` user cannot act on; every other warning and error still shows."""
    # dag.test() talks to its in-process execution API through starlette's TestClient, which
    # warns about the httpx version Airflow pins.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    # dag.test()'s loop warns "No tasks to run" for the second it waits while the skipped
    # kubernetes branch settles. A filter, not a level: Airflow's logging setup resets the levels of
    # its loggers (and the same logger reports failed tasks).
    logging.getLogger("airflow.sdk.definitions.dag").addFilter(
        lambda record: not str(record.msg).startswith("No tasks to run")
    )


def _start_execution_api() -> None:
    """Build dag.test()'s in-process Execution API before the run starts, as Airflow start-up.

    dag.test() builds it lazily in the run's first task, and its first request generates the
    routes of every API version (about 4 s here). A deployed Airflow pays that once, when the
    api-server starts, so it is counted with the rest of start-up, not in the DAG run (the command's
    total is the same either way; benchmarks/bench_pipeline.py reports both). Best effort: these
    are Airflow internals, and if they move the first task builds it as before.
    """
    try:
        import httpx
        from airflow.sdk.execution_time.supervisor import in_process_api_server
    except ImportError:
        return
    try:
        api = in_process_api_server()
        with httpx.Client(transport=api.transport, base_url="http://in-process.invalid/execution/") as client:
            client.get("health")
    except (AttributeError, httpx.HTTPError):
        return


def fail_stale_runs(home: Path) -> list[str]:
    """Mark failed the DAG runs (and their unfinished tasks) a killed earlier command left `running`.

    Only when no live process owns this AIRFLOW_HOME (nightly.owner, start-time checked): a run
    another command is driving right now is not stale. Returns the run ids marked failed.
    """
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, State, TaskInstanceState
    from sqlalchemy import select

    from meshmark_tasks.pipeline.lifecycle import is_alive, owner_record

    owner = home / OWNER_FILE
    with contextlib.suppress(OSError):
        if is_alive(owner.read_text(encoding="utf-8")):
            return []
    owner.write_text(owner_record(), encoding="utf-8")
    failed = []
    with create_session() as session:
        for dag_run in session.scalars(select(DagRun).where(DagRun.state == DagRunState.RUNNING)):
            for ti in dag_run.get_task_instances(session=session):
                if ti.state not in State.finished:
                    ti.state = TaskInstanceState.FAILED
            dag_run.set_state(DagRunState.FAILED)
            failed.append(dag_run.run_id)
    for run_id in failed:
        print(f"meshmark: run {run_id} was left running by a killed command: marked failed", file=sys.stderr)
    return failed


def _task_states(run: Any) -> dict[str, str]:
    return {
        ti.task_id + (f"[{ti.map_index}]" if ti.map_index >= 0 else ""): str(ti.state)
        for ti in run.get_task_instances()
    }


def run(conf: dict[str, Any], logical_date: str | None = None) -> int:
    """Run the nightly DAG, then the report DAG; a signal stops both and removes the run's files."""
    from meshmark_tasks.pipeline import lifecycle

    lifecycle.reap_leftovers()
    folder = lifecycle.claim_run_dir()
    lifecycle.exit_cleanly_on_signals(folder)
    lifeline = os.environ.pop(lifecycle.LIFELINE_FD_ENV, None)
    if lifeline is not None:
        lifecycle.stop_when_closed(folder, int(lifeline))
    try:
        return _run_dags(conf, logical_date)
    finally:
        lifecycle.release_run_dir(folder)


def _run_dags(conf: dict[str, Any], logical_date: str | None) -> int:
    from meshmark_tasks.config import storage_root
    from meshmark_tasks.constants import NIGHTLY_DAG_ID, REPORT_DAG_ID
    from meshmark_tasks.storage import DatasetStore

    _quiet_airflow()
    _show_progress()
    _prepare_database()
    fail_stale_runs(Path(os.environ["AIRFLOW_HOME"]))
    dags = _dags()
    _start_execution_api()
    nightly = dags[NIGHTLY_DAG_ID]
    when = datetime.fromisoformat(logical_date) if logical_date else datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    started = time.perf_counter()
    # run_after = logical date: the run id derives from it, so the same logical run keeps its id.
    run = nightly.test(run_conf=conf, logical_date=when, run_after=when)
    wall_s = time.perf_counter() - started
    states = _task_states(run)
    info = {"dag_run": run.run_id, "state": str(run.state), "wall_s": wall_s, "tasks": states}
    (Path(os.environ["AIRFLOW_HOME"]) / RUN_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    print(
        f"meshmark: {NIGHTLY_DAG_ID} run {run.run_id} ended {run.state} after {wall_s:.1f} s", file=sys.stderr
    )
    if str(run.state) != "success":
        failed = sorted(task for task, state in states.items() if state not in ("success", "skipped"))
        print(f"meshmark: tasks not successful: {', '.join(failed)}", file=sys.stderr)
        return 1
    report = dags[REPORT_DAG_ID].test()
    store = DatasetStore(storage_root())
    print(
        f"parquet dataset: {store.root}  "
        "(tables: results, meshmark, meshmark_config, meshmark_summary, quarantine, runs)"
    )
    index = f"{store.reports_dir('latest')}/index.html"
    print(f"report:          {index}  (report DAG run ended {report.state})")
    return 0 if str(report.state) == "success" else 1


if __name__ == "__main__":
    sys.exit(run(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}, *sys.argv[2:3]))
