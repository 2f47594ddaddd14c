"""One cell on the cluster: a KubernetesPodOperator pod runs the load generator, Prometheus the rest.

The pod is built at run time (the profile is a run-time parameter of the DAG) and executed inside
the mapped `run_cell` task, so one task instance per cell does load, metrics and parsing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from meshmark_tasks.backends.kubernetes.pods import loadgen_pod_kwargs
from meshmark_tasks.backends.kubernetes.results import measurement_from_xcom
from meshmark_tasks.backends.kubernetes.settings import KubernetesSettings
from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.matrix import Cell
from meshmark_tasks.measurement import CellMeasurement
from meshmark_tasks.metrics.prometheus import prometheus_url_from_connection, resource_usage
from meshmark_tasks.profile import Profile

log = logging.getLogger(__name__)

# The cluster's Prometheus scrape interval; rate() needs two samples inside a test window.
SCRAPE_INTERVAL_ENV = "MESHMARK_PROMETHEUS_SCRAPE_S"


def kubernetes_hook(settings: KubernetesSettings) -> Any:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    return KubernetesHook(conn_id=settings.kubernetes_conn_id)


def run_cell_in_pod(
    profile: Profile,
    cell: Cell,
    *,
    raw_dir: Path,
    context: Any,
    settings: KubernetesSettings | None = None,
) -> CellMeasurement:
    """Run the cell's load-generator pod and measure the components over the test window.

    The pod's output is written verbatim to raw_dir (the caller keeps it in the store).
    """
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    settings = settings or KubernetesSettings.from_env()
    task_id = context["ti"].task_id if context else f"loadgen-{cell.cell_id}"
    operator = KubernetesPodOperator(task_id=task_id, **loadgen_pod_kwargs(profile, cell, settings))
    xcom_value = operator.execute(context)
    finished = datetime.now(UTC)
    measurement = measurement_from_xcom(profile, cell, xcom_value, raw_dir, None)
    if measurement.result is None:
        return measurement
    # The measured window: the tool's own end time where it reports one (k6 summaries don't),
    # and the measured duration before it; the warm-up ran earlier in an init container.
    end = measurement.result.end_time or finished
    start = end - timedelta(seconds=measurement.result.duration_s)
    try:
        resources = resource_usage(
            prometheus_url_from_connection(settings.prometheus_conn_id),
            namespace=settings.namespace_for(cell.mesh),
            start=start,
            end=end,
            step_s=float(os.environ.get(SCRAPE_INTERVAL_ENV, "15")),
            zero_components=("dataplane", "controlplane") if cell.is_baseline else (),
        )
    except MeshmarkError as exc:
        # A metrics gap is recorded, not fatal: validation quarantines the cell with this reason
        # next to its kept raw output.
        log.warning("cell %s: no resource metrics: %s", cell.cell_id, exc)
        return measurement
    return replace(measurement, resources=resources)
