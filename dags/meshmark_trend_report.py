"""Trend report with regression detection, after every nightly run and once a day regardless.

Scheduled on the results Asset (the nightly DAG emits it) OR a daily cron, whichever comes first;
all logic lives in meshmark_tasks.reporting (docs/reports.md). Heavy imports stay inside the task.
Active from the start (`is_paused_upon_creation=False`): a paused report DAG would silently drop
the report after each nightly run, and nothing in the UI would say why.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, get_current_context, task

from meshmark_tasks.assets import RESULTS_ASSET
from meshmark_tasks.config import storage_root
from meshmark_tasks.constants import DEFAULT_ON_REGRESSION, ON_REGRESSION_CHOICES, REPORT_DAG_ID, WEB_PREFIX

DOC = f"""
### MeshMark trend report

Reads the last `days` of MeshMark results, flags regressions against each series' own history
(docs/reports.md) and publishes the report. Runs after every `meshmark_nightly` run (the
`meshmark_results` Asset) and daily at 06:30 UTC; it is active from the start and never starts a
run for a time slot that passed before it was switched on.

**Outputs**, under the storage root `{storage_root()}` (`MESHMARK_STORAGE_ROOT`):
`reports/<date>/` and `reports/latest/`, each with `index.html` (charts and tables),
`summary.md` and `regressions.json`.

Open the [newest report]({WEB_PREFIX}/report) (or the **Trend report** tab of any run); the
[list of runs]({WEB_PREFIX}/) links each run's report and Great Expectations Data Docs.
"""


@dag(
    dag_id=REPORT_DAG_ID,
    schedule=AssetOrTimeSchedule(
        # run_immediately=0: switched on after 06:30, the first timed run is tomorrow's.
        timetable=CronTriggerTimetable("30 6 * * *", timezone="UTC", run_immediately=timedelta(0)),
        assets=RESULTS_ASSET,
    ),
    catchup=False,
    is_paused_upon_creation=False,
    max_active_runs=1,
    params={
        "days": Param(30, type="integer", minimum=1, maximum=3660, title="History window (days)"),
        "meshes": Param(
            [], type="array", items={"type": "string"}, title="Meshes", description="Only these; empty = all"
        ),
        "on_regression": Param(
            DEFAULT_ON_REGRESSION,
            enum=list(ON_REGRESSION_CHOICES),
            title="On regression",
            description="fail the task, notify the meshmark_webhook connection, or only log",
        ),
    },
    tags=["meshmark", "report"],
    doc_md=DOC,
)
def meshmark_trend_report() -> None:
    @task(retries=0, show_return_value_in_logs=False)
    def build_trend_report() -> dict[str, Any]:
        from meshmark_tasks.reporting.dag_task import run_trend_report

        context = get_current_context()
        return run_trend_report(context["params"], context=context)

    build_trend_report()


meshmark_trend_report()
