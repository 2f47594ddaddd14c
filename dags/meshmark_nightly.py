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
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import CronTriggerTimetable, Param, TriggerRule, dag, get_current_context, task, teardown

from meshmark_tasks.assets import RESULTS_ASSET
from meshmark_tasks.backends.kubernetes.callbacks import RecordLoadWindow
from meshmark_tasks.config import profiles_dir
from meshmark_tasks.constants import BACKEND_NAMES, DEFAULT_BACKEND, LOADTEST_POOL, LOCAL

# "off" (or empty) leaves only manual and API triggers, e.g. for a staging Airflow or a test rig.
NIGHTLY_CRON = os.environ.get("MESHMARK_NIGHTLY_CRON", "0 2 * * *").strip()
SCHEDULE = (
    None
    if NIGHTLY_CRON.lower() in ("", "off", "none")
    else CronTriggerTimetable(NIGHTLY_CRON, timezone="UTC")
)
PROFILE_NAMES = sorted(p.stem for p in Path(profiles_dir()).glob("*.yaml")) or ["local-demo"]
LOADGEN_TASK_ID = "loadgen"

DOC = """
### MeshMark nightly

Runs the profile's matrix (mesh × QPS × connections × payload) as one mapped task per cell,
validates the measurements (bad rows go to the `quarantine` table with reasons), scores MeshMark
and writes the `results`, `meshmark`, `meshmark_config` and `quarantine` Parquet tables under the
storage root (`MESHMARK_STORAGE_ROOT`). Trigger it with your own parameters before a mesh upgrade.
"""


@dag(
    dag_id="meshmark_nightly",
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1),
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
    params={
        "profile": Param(
            "local-demo",
            type="string",
            enum=PROFILE_NAMES,
            title="Profile",
            description="Performance profile (a YAML file in profiles/).",
        ),
        "backend": Param(
            DEFAULT_BACKEND,
            type="string",
            enum=list(BACKEND_NAMES),
            title="Backend",
            description="local: a real testbed on the worker; kubernetes: load-generator pods.",
        ),
        "meshes": Param(
            [],
            type="array",
            items={"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
            title="Meshes",
            description="Subset of the profile's mesh configurations; empty = all.",
        ),
        "qps": Param(
            [],
            type="array",
            items={"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"const": "max"}]},
            title="Requested QPS",
            description='Load points to test, e.g. [100, 500, "max"]; empty = the profile\'s.',
        ),
        "connections": Param(
            [],
            type="array",
            items={"type": "integer", "minimum": 1},
            title="Connections",
            description="Concurrent connections per load point; empty = the profile's.",
        ),
        "duration_s": Param(
            None,
            type=["null", "number"],
            exclusiveMinimum=0,
            maximum=86400,
            title="Duration (s)",
            description="Measured window per cell, after warmup; empty = the profile's.",
        ),
    },
)
def meshmark_nightly() -> None:
    # Returns the cells (Airflow maps only over a task's return value); the whole plan, which
    # every other task needs, goes out under the XCom key "plan".
    @task
    def plan() -> list[dict]:
        from meshmark_tasks.pipeline.nightly import plan_run

        context = get_current_context()
        run_plan = plan_run(context["params"])
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
    @task(pool=LOADTEST_POOL, map_index_template="{{ cell_label }}", retries=1)
    def run_cell(run_plan: dict, cell: dict) -> dict:
        from meshmark_tasks.pipeline.nightly import run_planned_cell

        context = get_current_context()
        context["cell_label"] = cell["cell_id"]  # type: ignore[typeddict-unknown-key]
        return run_planned_cell(run_plan, cell, context["run_id"])

    # --- kubernetes: one pod task per cell, then one collect task per cell
    @task
    def render_pods(run_plan: dict) -> list[dict]:
        from meshmark_tasks.pipeline.nightly import render_pods as pod_kwargs

        return pod_kwargs(run_plan)

    # A failed pod is a failed load test, which is data: collect runs for it too (none_skipped:
    # after its pod task succeeded or failed, not when the branch skipped it) and records why.
    @task(trigger_rule=TriggerRule.NONE_SKIPPED, map_index_template="{{ cell_label }}", retries=1)
    def collect(run_plan: dict, cell: dict) -> dict:
        from meshmark_tasks.pipeline.nightly import collect_pod_cell

        context = get_current_context()
        ti = context["ti"]
        context["cell_label"] = cell["cell_id"]  # type: ignore[typeddict-unknown-key]

        def pull(key: str) -> object:
            return ti.xcom_pull(task_ids=LOADGEN_TASK_ID, key=key, map_indexes=ti.map_index)

        return collect_pod_cell(run_plan, cell, context["run_id"], pull)

    # Both branches join here; the one not taken is skipped.
    @task(outlets=[RESULTS_ASSET], retries=0, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def finalize(run_plan: dict, cell_outputs: list[dict]) -> dict:
        from meshmark_tasks.pipeline.nightly import finalize_run
        from meshmark_tasks.pipeline.rows import run_date_of

        context = get_current_context()
        summary = finalize_run(
            run_plan,
            list(cell_outputs),
            run_id=context["run_id"],
            run_date=run_date_of(context["dag_run"].logical_date or context["dag_run"].run_after),
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

    summary = finalize(run_plan, local_outputs.concat(pod_outputs))
    summary >> teardown_testbed(run_plan).as_teardown(setups=provisioned)


meshmark_nightly()
