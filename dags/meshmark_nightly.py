"""MeshMark nightly: load-test every mesh configuration of a profile, validate, score, store.

Thin by design: each task calls one function of meshmark_tasks.pipeline.nightly. Nothing heavy
(pandas, Great Expectations, pyarrow) is imported at parse time. The KubernetesPodOperator is: the
kubernetes branch is a real pod task per cell. The DAG processor imports it once, before parsing
(`[dag_processor] parsing_pre_import_modules`), which keeps parsing fast (benchmarks/bench_pipeline).

    plan ─► provision ─► branch_on_backend ─┬─► run_cell ×N  (local: the testbed, in the task) ──┐
                                            └─► render_pods ─► loadgen ×N (a pod per cell)      │
                                                               ─► collect ×N (XCom + Prometheus) ┤
                                                                                 finalize ◄──────┘
                                                                                 teardown_testbed
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import (
    CronTriggerTimetable,
    Param,
    TriggerRule,
    dag,
    get_current_context,
    task,
    teardown,
)

from meshmark_tasks.assets import RESULTS_ASSET
from meshmark_tasks.backends.kubernetes.callbacks import RecordLoadWindow
from meshmark_tasks.config import profiles_dir, scheduled_profile, storage_root
from meshmark_tasks.constants import LOADTEST_POOL, LOCAL, NIGHTLY_DAG_ID, WEB_PREFIX
from meshmark_tasks.trigger_form import nightly_param_specs

# "off" (or empty) leaves only manual and API triggers, e.g. for a staging Airflow or a test rig.
NIGHTLY_CRON = os.environ.get("MESHMARK_NIGHTLY_CRON", "0 2 * * *").strip()
# No start_date and run_immediately=0: a new or unpaused DAG waits for the next 02:00 instead of
# starting a full run for the slot that has just passed (Airflow's catch-up of one missed run).
SCHEDULE = (
    None
    if NIGHTLY_CRON.lower() in ("", "off", "none")
    else CronTriggerTimetable(NIGHTLY_CRON, timezone="UTC", run_immediately=timedelta(0))
)
PARAM_SPECS = nightly_param_specs(Path(profiles_dir()))
LOADGEN_TASK_ID = "loadgen"
# Mapped load-test tasks show their cell id from the moment they start: Airflow 3.3 renders the
# template before the task runs, when the expanded `cell` argument is already in op_kwargs.
CELL_LABEL = "{{ task.op_kwargs['cell']['cell_id'] }}"

DOC = f"""
### MeshMark nightly

Runs a performance profile's matrix (mesh × QPS × connections × payload) as one load test per
cell, validates the measurements with Great Expectations (bad rows go to the `quarantine` table
with a reason), scores MeshMark and publishes the run. Trigger it with the form to test before a
mesh upgrade: every field is optional; empty means "the profile's".

**Scheduled runs** use the profile `{scheduled_profile()}` (`MESHMARK_SCHEDULED_PROFILE`), sized
for nightly trends you can trust (longer windows, more repetitions); the form's default is the
two-and-a-half-minute `{PARAM_SPECS["profile"]["default"]}`.

**Needs the pool `{LOADTEST_POOL}`** with 1 slot, counting deferred tasks, so that load tests never
overlap: `airflow pools set {LOADTEST_POOL} 1 "meshmark load tests" --include-deferred`
(`make airflow` and `make nightly` create it). Without it the load tests wait in *scheduled*.

**Outputs**, under the storage root `{storage_root()}` (`MESHMARK_STORAGE_ROOT`):

| what | where |
| --- | --- |
| Parquet tables (docs/data-model.md), one file per table and run | `<root>/<table>/run_date=YYYY-MM-DD/` |
| raw load-generator outputs | `<root>/raw/<run>/` |
| the run's summary (data quality, counts, MeshMark per mesh) | `<root>/run_summaries/<run>.json` |
| Great Expectations Data Docs of the run | `<root>/data_docs/<run>/` |
| trend report (the `meshmark_trend_report` DAG, after every run) | `<root>/reports/latest/` |

Open them from a run's page: the tabs **Trend report** and **Data Docs**; or the newest
[trend report]({WEB_PREFIX}/report) and the [list of runs]({WEB_PREFIX}/) (served by the meshmark
plugin from the storage root).
"""


@dag(
    dag_id=NIGHTLY_DAG_ID,
    schedule=SCHEDULE,
    catchup=False,
    max_active_runs=1,
    tags=["meshmark", "benchmark", "service-mesh"],
    doc_md=DOC,
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    },
    params={name: Param(**spec) for name, spec in PARAM_SPECS.items()},
)
def meshmark_nightly() -> None:
    # Returns the cells (Airflow maps only over a task's return value); the whole plan, which
    # every other task needs, goes out under the XCom key "plan".
    @task(show_return_value_in_logs=False)
    def plan() -> list[dict]:
        from airflow.sdk.exceptions import AirflowFailException

        from meshmark_tasks.pipeline.nightly import plan_input_errors, plan_run

        context = get_current_context()
        try:
            # Scheduled runs take the scheduled profile (local-nightly); triggered runs the form's.
            scheduled = getattr(context.get("dag_run"), "run_type", None) == "scheduled"
            run_plan = plan_run(context["params"], scheduled=scheduled)
        except plan_input_errors() as exc:
            # A broken profile or override stays broken: fail once, now, without retries.
            raise AirflowFailException(str(exc)) from None
        context["ti"].xcom_push(key="plan", value=run_plan)
        return run_plan["cells"]

    @task
    def provision(run_plan: dict) -> list[str]:
        from meshmark_tasks.pipeline.nightly import provision_run

        return provision_run(run_plan, get_current_context()["run_id"])

    @task.branch
    def branch_on_backend(run_plan: dict) -> str:
        return "run_cell" if run_plan["backend"] == LOCAL else "render_pods"

    # --- local: the load test runs inside the mapped task
    # The measurement is logged as one line (its summary), not as the returned dict.
    @task(pool=LOADTEST_POOL, map_index_template=CELL_LABEL, retries=1, show_return_value_in_logs=False)
    def run_cell(run_plan: dict, cell: dict) -> dict:
        from meshmark_tasks.pipeline.nightly import run_planned_cell

        return run_planned_cell(run_plan, cell, get_current_context()["run_id"])

    # --- kubernetes: one pod task per cell, then one collect task per cell
    @task(show_return_value_in_logs=False)
    def render_pods(run_plan: dict) -> list[dict]:
        from meshmark_tasks.pipeline.nightly import render_pods as pod_kwargs

        return pod_kwargs(run_plan)

    # A failed pod is a failed load test, which is data: collect runs for it too (none_skipped:
    # after its pod task succeeded or failed, not when the branch skipped it) and records why.
    @task(
        trigger_rule=TriggerRule.NONE_SKIPPED,
        map_index_template=CELL_LABEL,
        retries=1,
        show_return_value_in_logs=False,
    )
    def collect(run_plan: dict, cell: dict) -> dict:
        from meshmark_tasks.pipeline.nightly import collect_pod_cell

        context = get_current_context()
        ti = context["ti"]

        def pull(key: str) -> object:
            return ti.xcom_pull(task_ids=LOADGEN_TASK_ID, key=key, map_indexes=ti.map_index)

        return collect_pod_cell(run_plan, cell, context["run_id"], pull)

    # Both branches join here; the one not taken is skipped.
    @task(
        outlets=[RESULTS_ASSET],
        retries=0,
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
        show_return_value_in_logs=False,
    )
    def finalize(run_plan: dict, cell_outputs: list[dict]) -> dict:
        from meshmark_tasks.pipeline.nightly import finalize_run
        from meshmark_tasks.pipeline.rows import run_date_of

        context = get_current_context()
        # By index up to its length: iterating the lazy XCom sequence instead probes one item past
        # the end, which the task SDK logs as an error ("XCom not found ... offset=N").
        summary = finalize_run(
            run_plan,
            [cell_outputs[i] for i in range(len(cell_outputs))],
            run_id=context["run_id"],
            run_date=run_date_of(context["dag_run"].logical_date or context["dag_run"].run_after),
            run_ts=context["dag_run"].start_date,
        )
        context["outlet_events"][RESULTS_ASSET].extra = {
            k: summary[k] for k in ("run_id", "run_date", "data_quality", "cells_scored", "cells_quarantined")
        }
        return summary

    @teardown
    def teardown_testbed(run_plan: dict) -> None:
        from meshmark_tasks.pipeline.nightly import teardown_run

        teardown_run(run_plan, get_current_context()["run_id"])

    cells = plan()
    run_plan = cells["plan"]
    provisioned = provision(run_plan)
    branch = branch_on_backend(run_plan)
    provisioned >> branch

    local_outputs = run_cell.partial(run_plan=run_plan).expand(cell=cells)
    pod_kwargs = render_pods(run_plan)
    branch >> [local_outputs, pod_kwargs]

    pods = KubernetesPodOperator.partial(
        task_id=LOADGEN_TASK_ID,
        pool=LOADTEST_POOL,
        # Deferred pods hold no pool slot unless the pool counts deferred tasks; this keeps
        # two load tests from overlapping either way (it counts deferred instances).
        max_active_tis_per_dag=1,
        map_index_template="{{ task.labels['meshmark.io/cell'] }}",
        retries=1,
        callbacks=[RecordLoadWindow],
    ).expand_kwargs(pod_kwargs)
    pod_outputs = collect.partial(run_plan=run_plan).expand(cell=cells)
    pods >> pod_outputs
    # The branch skips the whole kubernetes side itself, in the same step: left to cascade
    # (render_pods, then loadgen, then collect), finalize would wait scheduling passes for it.
    branch >> [pods, pod_outputs]

    summary = finalize(run_plan, local_outputs.concat(pod_outputs))
    summary >> teardown_testbed(run_plan).as_teardown(setups=provisioned)


meshmark_nightly()
