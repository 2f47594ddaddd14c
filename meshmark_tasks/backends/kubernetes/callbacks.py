"""A KubernetesPodOperator callback that records when the load generator actually ran.

Prometheus is asked for the CPU and memory of the measured window. Fortio and Nighthawk put their
own start and end in the result; k6's summary export has no timestamps, and the `collect` task runs
after the pod is gone. So when the pod completes, this callback pushes the base container's own
start and end (from the pod status) as an extra XCom of the pod task, which `collect` reads.
It runs on both of the operator's paths: after the synchronous wait, and on re-entry from the
trigger in deferrable mode.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.cncf.kubernetes.callbacks import KubernetesPodOperatorCallback

# The XCom key of the pod task holding {"started_at": ISO, "finished_at": ISO}.
WINDOW_XCOM_KEY = "meshmark_load_window"


def container_window(pod: Any, container_name: str) -> dict[str, str] | None:
    """Start and end (ISO 8601) of a terminated container of `pod`; None while it has not ended."""
    statuses = getattr(getattr(pod, "status", None), "container_statuses", None) or []
    status = next((s for s in statuses if s.name == container_name), None)
    terminated = status.state.terminated if status is not None and status.state is not None else None
    if terminated is None or terminated.finished_at is None:
        return None
    started: datetime | None = terminated.started_at
    return {
        "started_at": started.isoformat() if started is not None else "",
        "finished_at": terminated.finished_at.isoformat(),
    }


class RecordLoadWindow(KubernetesPodOperatorCallback):
    """Push the load-generator container's window when the pod completes (see module docstring)."""

    @staticmethod
    def on_pod_completion(*, pod: Any, operator: Any, context: Any, **kwargs: Any) -> None:
        window = container_window(pod, operator.base_container_name)
        if window is not None and context is not None:
            context["ti"].xcom_push(key=WINDOW_XCOM_KEY, value=window)
