"""The body of the trend-report DAG's task, kept here so the DAG file stays a thin shell."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from meshmark_tasks.config import storage_root
from meshmark_tasks.constants import DEFAULT_ON_REGRESSION, ON_REGRESSION_CHOICES

log = logging.getLogger(__name__)


def run_trend_report(
    params: Mapping[str, Any],
    *,
    root: str | None = None,
    context: Mapping[str, Any] | None = None,
    conn_id: str | None = None,
) -> dict[str, Any]:
    """Build and publish the report; then act on regressions as `params["on_regression"]` says.

    - fail:   raise AirflowFailException (the task, and so the DAG run, fails; no retries);
    - notify: POST to the webhook connection when one is configured, else log a warning;
    - ignore: only log.
    No history at all skips the task (the time schedule may fire before the first nightly run).
    """
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from meshmark_tasks.reporting.history import NoHistoryError
    from meshmark_tasks.reporting.notify import DEFAULT_CONN_ID, RegressionWebhookNotifier, webhook_configured
    from meshmark_tasks.reporting.report import build_report

    days = int(params.get("days", 30))
    meshes: Sequence[str] = list(params.get("meshes") or [])
    on_regression = params.get("on_regression", DEFAULT_ON_REGRESSION)
    if on_regression not in ON_REGRESSION_CHOICES:
        raise AirflowFailException(
            f"param on_regression={on_regression!r}; expected one of {ON_REGRESSION_CHOICES}"
        )
    root = root or storage_root()
    try:
        result = build_report(root, days=days, meshes=meshes or None)
    except NoHistoryError as exc:
        raise AirflowSkipException(str(exc)) from exc
    log.info(
        "report for run %s published to %s (latest: %s)", result.run_id, result.report_dir, result.latest_dir
    )
    log.info("series: %s", result.counts)
    summary = result.as_dict()
    if not result.has_regressions:
        return summary
    lines = "; ".join(
        f"{r['mesh']} @ {r['load_point']}: {r['metric']} {r['change_pct']:+.1f} % (p = {r['p_value']:.2g})"
        if r.get("change_pct") is not None and r.get("p_value") is not None
        else f"{r['mesh']} @ {r['load_point']}: {r['metric']}"
        for r in result.regressions
    )
    message = (
        f"{len(result.regressions)} regression(s) in run {result.run_id}: {lines}. Report: {result.html_path}"
    )
    if on_regression == "fail":
        raise AirflowFailException(message)
    if on_regression == "notify":
        conn = conn_id or DEFAULT_CONN_ID
        if webhook_configured(conn):
            notifier = RegressionWebhookNotifier(
                run_id=result.run_id, report=result.html_path, regressions=result.regressions, conn_id=conn
            )
            notifier.notify(dict(context or {}))  # errors propagate: an unsent alert must not pass silently
            log.warning("%s (sent to connection %s)", message, conn)
            summary["notified"] = conn
        else:
            log.warning("%s (no connection %s configured, so no notification sent)", message, conn)
            summary["notified"] = None
        return summary
    log.warning(message)
    return summary
