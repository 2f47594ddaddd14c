"""Trend report with regression detection, after every nightly run and once a day regardless.

Scheduled on the results Asset (the nightly DAG emits it) OR a daily cron, whichever comes first;
all logic lives in meshmark_tasks.reporting (docs/reports.md). Heavy imports stay inside the task.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, get_current_context, task

from meshmark_tasks.assets import RESULTS_ASSET
from meshmark_tasks.constants import DEFAULT_ON_REGRESSION, ON_REGRESSION_CHOICES


@dag(
    dag_id="meshmark_trend_report",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("30 6 * * *", timezone="UTC"), assets=RESULTS_ASSET
    ),
    catchup=False,
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
    doc_md=__doc__,
)
def meshmark_trend_report() -> None:
    @task(retries=0)
    def build_trend_report() -> dict[str, Any]:
        from meshmark_tasks.reporting.dag_task import run_trend_report

        context = get_current_context()
        return run_trend_report(context["params"], context=context)

    build_trend_report()


meshmark_trend_report()
