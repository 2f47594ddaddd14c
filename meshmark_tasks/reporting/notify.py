"""Tell someone about regressions: an Airflow notifier that POSTs JSON to a webhook connection.

The connection (default id `meshmark_webhook`) names the endpoint: its extra `url`, or its host
when that is a full URL, or scheme (the connection's schema, default https) + host + port + extra
`endpoint`. The JSON has a `text` field, so a Slack (or Mattermost, Teams workflow) incoming-webhook
URL works as is; the structured regressions ride along under `meshmark`.

Kept free of pandas/pyarrow imports: DAG files import it at parse time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import requests
from airflow.sdk import BaseHook, BaseNotifier
from airflow.sdk.exceptions import AirflowNotFoundException

DEFAULT_CONN_ID = "meshmark_webhook"
TIMEOUT_S = 10.0
MAX_LINES = 10  # regressions spelled out in the text; the JSON part carries all of them


def webhook_configured(conn_id: str = DEFAULT_CONN_ID) -> bool:
    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True


def webhook_url(conn_id: str = DEFAULT_CONN_ID) -> str:
    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson or {}
    if extra.get("url"):
        return str(extra["url"])
    host = conn.host or ""
    if "://" in host:
        return host
    if not host:
        raise ValueError(f"connection {conn_id}: set its host or its extra 'url' to the webhook URL")
    port = f":{conn.port}" if conn.port else ""
    return f"{conn.schema or 'https'}://{host}{port}{extra.get('endpoint', '')}"


def summary_text(run_id: str, report: str, regressions: Sequence[Mapping[str, Any]]) -> str:
    lines = [f"MeshMark: {len(regressions)} regression(s) in run {run_id}. Report: {report}"]
    for row in regressions[:MAX_LINES]:
        change = row.get("change_pct")
        change_text = f"{change:+.1f} %" if isinstance(change, int | float) else "n/a"
        lines.append(f"• {row['mesh']} @ {row['load_point']}: {row['label']} {change_text}")
    if len(regressions) > MAX_LINES:
        lines.append(f"… and {len(regressions) - MAX_LINES} more")
    return "\n".join(lines)


class RegressionWebhookNotifier(BaseNotifier):
    """POST the regressions of one report to the webhook connection."""

    template_fields = ("run_id", "report")

    def __init__(
        self,
        *,
        run_id: str,
        report: str,
        regressions: Sequence[Mapping[str, Any]],
        conn_id: str = DEFAULT_CONN_ID,
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.report = report
        self.regressions = list(regressions)
        self.conn_id = conn_id

    def payload(self) -> dict[str, Any]:
        return {
            "text": summary_text(self.run_id, self.report, self.regressions),
            "meshmark": {"run_id": self.run_id, "report": self.report, "regressions": self.regressions},
        }

    def notify(self, context: Any) -> None:
        url = webhook_url(self.conn_id)
        response = requests.post(
            url,
            data=json.dumps(self.payload()),
            headers={"Content-Type": "application/json"},
            timeout=TIMEOUT_S,
        )
        response.raise_for_status()
