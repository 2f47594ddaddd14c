"""The kubernetes backend behind the Backend interface.

- provision: every mesh's manifests (namespace, mesh policy, application under test) applied with
  server-side apply through the KubernetesHook; teardown deletes them (namespaces are kept).
- the load tests: one KubernetesPodOperator pod per cell, a mapped Airflow task of its own (the DAG
  expands it from `pod_kwargs(plan)`); `measure` then *collects*: it parses what the pod task
  returned and asks Prometheus for the components' CPU and memory over the test window.

`render_manifests` and `pod_kwargs` need neither Airflow nor a cluster: they are what the backend
would submit, as plain JSON-safe dicts.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from meshmark_tasks.backends.base import Backend, CellHandoff
from meshmark_tasks.backends.kubernetes.apply import apply_manifests, delete_manifests
from meshmark_tasks.backends.kubernetes.manifests import render_mesh_manifests
from meshmark_tasks.backends.kubernetes.pods import loadgen_pod_kwargs
from meshmark_tasks.backends.kubernetes.results import measurement_from_xcom
from meshmark_tasks.backends.kubernetes.settings import KubernetesSettings
from meshmark_tasks.constants import KUBERNETES, BackendName
from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.matrix import Cell
from meshmark_tasks.measurement import CellMeasurement
from meshmark_tasks.metrics.prometheus import prometheus_url_from_connection, resource_usage
from meshmark_tasks.plan import RunPlan

log = logging.getLogger(__name__)

# The cluster's Prometheus scrape interval; rate() needs two samples inside a test window.
SCRAPE_INTERVAL_ENV = "MESHMARK_PROMETHEUS_SCRAPE_S"


def kubernetes_hook(settings: KubernetesSettings) -> Any:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    return KubernetesHook(conn_id=settings.kubernetes_conn_id)


class KubernetesBackend(Backend):
    name: ClassVar[BackendName] = KUBERNETES

    def __init__(self, settings: KubernetesSettings | None = None) -> None:
        self.settings = settings or KubernetesSettings.from_env()

    # --------------------------------------------------------------- what would be submitted
    def render_manifests(self, plan: RunPlan) -> dict[str, list[dict[str, Any]]]:
        """Each mesh's manifests, in apply order."""
        return {
            mesh.name: render_mesh_manifests(plan.profile, mesh, self.settings)
            for mesh in plan.profile.meshes
        }

    def pod_kwargs(self, plan: RunPlan) -> list[dict[str, Any]]:
        """KubernetesPodOperator arguments of every cell, in the plan's cell order (JSON-safe)."""
        return [loadgen_pod_kwargs(plan.profile, cell, self.settings) for cell in plan.cells]

    # ---------------------------------------------------------------------------- Backend
    def provision(self, plan: RunPlan, run_id: str) -> list[str]:
        hook = kubernetes_hook(self.settings)
        done = []
        for mesh, docs in self.render_manifests(plan).items():
            apply_manifests(hook, docs)
            done.append(f"{mesh}: applied {len(docs)} manifests")
        return done

    def measure(
        self, plan: RunPlan, cell: Cell, run_id: str, scratch: Path, handoff: CellHandoff | None = None
    ) -> CellMeasurement:
        if handoff is None:
            raise MeshmarkError(
                f"cell {cell.cell_id}: kubernetes cells run in their own pod task; "
                "measure() collects what that task returned, and was given nothing"
            )
        measurement = measurement_from_xcom(plan.profile, cell, handoff.value, scratch, None)
        if measurement.result is None:
            return measurement
        # The measured window: the tool's own end time where it reports one (k6 summaries don't:
        # then the load-generator container's own end); the warm-up ran before, in an init container.
        end = measurement.result.end_time or handoff.finished_at
        if end is None:
            log.warning("cell %s: no end time for the test window, so no resource metrics", cell.cell_id)
            return measurement
        start = end - timedelta(seconds=measurement.result.duration_s)
        try:
            resources = resource_usage(
                prometheus_url_from_connection(self.settings.prometheus_conn_id),
                namespace=self.settings.namespace_for(cell.mesh),
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

    def teardown(self, plan: RunPlan, run_id: str) -> None:
        hook = kubernetes_hook(self.settings)
        for docs in self.render_manifests(plan).values():
            delete_manifests(hook, docs)
