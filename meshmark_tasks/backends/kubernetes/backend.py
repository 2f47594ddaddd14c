"""The kubernetes backend behind the Backend interface.

- provision: every mesh's manifests (namespace, mesh policy, application under test) applied with
  server-side apply through the KubernetesHook; teardown deletes them (namespaces are kept).
- the load tests: one KubernetesPodOperator pod per cell, a mapped Airflow task of its own (the DAG
  expands it from `pod_kwargs(plan)`); `measure` then *collects*: it parses what the pod task
  returned and asks Prometheus for the components' CPU and memory over the test window.

`render_manifests` and `pod_kwargs` need neither Airflow nor a cluster: they are what the backend
would submit, as plain JSON-safe dicts. The one exception: a profile that leaves
`cluster.native_sidecars` at `auto`, with a sidecar mesh in it, makes `pod_kwargs` ask the API server
for its version (once per backend) unless `native_sidecars=` is given or MESHMARK_K8S_NATIVE_SIDECARS
is set.
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
from meshmark_tasks.backends.kubernetes.mesh_kinds import mesh_kind_facts, usage_layout
from meshmark_tasks.backends.kubernetes.pods import loadgen_pod_kwargs
from meshmark_tasks.backends.kubernetes.results import measurement_from_xcom
from meshmark_tasks.backends.kubernetes.settings import KubernetesSettings
from meshmark_tasks.constants import KUBERNETES, BackendName
from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.matrix import Cell
from meshmark_tasks.measurement import CellMeasurement
from meshmark_tasks.metrics.prometheus import mesh_resource_usage, prometheus_url_from_connection
from meshmark_tasks.plan import RunPlan

log = logging.getLogger(__name__)

# The cluster's Prometheus scrape interval; rate() needs two samples inside a test window.
SCRAPE_INTERVAL_ENV = "MESHMARK_PROMETHEUS_SCRAPE_S"


# Native sidecars (the SidecarContainers feature) are on by default from Kubernetes 1.29 (beta) and
# GA in 1.33.
NATIVE_SIDECARS_SINCE = (1, 29)
# The idle window ends this long before the warm-up would start: the containers after the `idle` one
# take a moment to start, and that moment must not count as idle.
IDLE_GUARD_S = 5.0


def server_version(hook: Any) -> tuple[int, int]:
    """The API server's (major, minor), from GET /version (allowed for every authenticated user)."""
    info = hook.api_client.call_api(
        "/version",
        "GET",
        header_params={"Accept": "application/json"},
        response_types_map={200: "object"},
        auth_settings=["BearerToken"],
        _return_http_data_only=True,
    )
    try:
        # Managed clusters report minors such as "29+".
        return int(str(info["major"])), int("".join(ch for ch in str(info["minor"]) if ch.isdigit()))
    except (KeyError, TypeError, ValueError):
        raise MeshmarkError(f"GET /version: not a Kubernetes version answer: {info!r}") from None


def kubernetes_hook(settings: KubernetesSettings) -> Any:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    return KubernetesHook(conn_id=settings.kubernetes_conn_id)


class KubernetesBackend(Backend):
    name: ClassVar[BackendName] = KUBERNETES

    def __init__(self, settings: KubernetesSettings | None = None) -> None:
        self.settings = settings or KubernetesSettings.from_env()
        self._detected_native_sidecars: bool | None = None

    def native_sidecars(self, plan: RunPlan) -> bool:
        """Whether sidecar meshes' proxies are injected as native sidecars in this run.

        The profile's `cluster.native_sidecars` when it says true or false; else
        MESHMARK_K8S_NATIVE_SIDECARS; else the API server's version (>= 1.29), asked only when a
        sidecar mesh is in the plan. A cluster that cannot be asked counts as without.
        """
        choice = plan.profile.cluster.native_sidecars
        if isinstance(choice, bool):
            return choice
        if self.settings.native_sidecars is not None:
            return self.settings.native_sidecars
        if not any(mesh_kind_facts(mesh.kind).sidecar for mesh in plan.profile.meshes):
            return False
        if self._detected_native_sidecars is None:
            try:
                version = server_version(kubernetes_hook(self.settings))
            except Exception as exc:  # no connection, no server, an odd answer: the safe choice
                log.warning("cannot ask the cluster for its version (%s): assuming no native sidecars", exc)
                self._detected_native_sidecars = False
            else:
                self._detected_native_sidecars = version >= NATIVE_SIDECARS_SINCE
                log.info("Kubernetes %s.%s: native sidecars %s", *version, self._detected_native_sidecars)
        return self._detected_native_sidecars

    # --------------------------------------------------------------- what would be submitted
    def render_manifests(self, plan: RunPlan) -> dict[str, list[dict[str, Any]]]:
        """Each mesh's manifests, in apply order."""
        return {
            mesh.name: render_mesh_manifests(plan.profile, mesh, self.settings)
            for mesh in plan.profile.meshes
        }

    def pod_kwargs(self, plan: RunPlan, *, native_sidecars: bool | None = None) -> list[dict[str, Any]]:
        """KubernetesPodOperator arguments of every cell, in the plan's cell order (JSON-safe)."""
        native = self.native_sidecars(plan) if native_sidecars is None else native_sidecars
        return [
            loadgen_pod_kwargs(plan.profile, cell, self.settings, native_sidecars=native)
            for cell in plan.cells
        ]

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
        # then the load-generator container's own end); any warm-up ran before it.
        end = measurement.result.end_time or handoff.finished_at
        if end is None:
            log.warning("cell %s: no end time for the test window, so no resource metrics", cell.cell_id)
            return measurement
        start = end - timedelta(seconds=measurement.result.duration_s)
        mesh = plan.profile.mesh(cell.mesh)
        namespace = self.settings.namespace_for(cell.mesh)
        idle = None
        idle_s = plan.profile.cluster.idle_s
        if mesh_kind_facts(mesh.kind).node_agents and idle_s > 0:
            # The pod's `idle` init container slept idle_s seconds, then the warm-up ran, then this
            # window: the idle stretch ends warmup_s (and a guard for container starts) before it.
            quiet_end = start - timedelta(seconds=plan.profile.warmup_s)
            idle = (quiet_end - timedelta(seconds=idle_s), quiet_end - timedelta(seconds=IDLE_GUARD_S))
        try:
            resources = mesh_resource_usage(
                prometheus_url_from_connection(self.settings.prometheus_conn_id),
                usage_layout(mesh, namespace),
                start=start,
                end=end,
                idle=idle,
                node_label=self.settings.node_label,
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
