"""KubernetesPodOperator arguments for one cell's load-generator pod.

How the pod starts, per mesh (docs/kubernetes-backend.md, "Warm-up and proxy readiness"):
- no proxy in the pod (baseline, istio-ambient, cilium): the pod's traffic is meshed from its network
  setup on, before any container runs, so the warm-up is an init container (`init-container`);
- a sidecar mesh whose proxy is injected as a Kubernetes native sidecar (`native-sidecar`): the
  injector puts the proxy among the init containers ahead of ours with a startup probe, so the
  warm-up init container starts only once the proxy is up;
- a sidecar mesh without native sidecars (`in-container`): an init container would run before the
  proxy exists (its traffic fails or bypasses the mesh), so the warm-up runs first in the measured
  container, which the mesh holds until its proxy is ready (Istio holdApplicationUntilProxyStarts,
  Linkerd proxy-await, Consul's proxy lifecycle). fortio's image has no shell for that: refused.
Node-level meshes with `cluster.idle_s` also get an `idle` init container that sleeps first: the
quiet stretch whose node-agent usage is subtracted from the cell's (metrics/prometheus.py).
"""

from __future__ import annotations

import math
from typing import Any

from meshmark_tasks.backends.kubernetes.commands import target_url, tool_command, warmup_then_measured
from meshmark_tasks.backends.kubernetes.manifests import placement, sidecar_annotations
from meshmark_tasks.backends.kubernetes.mesh_kinds import mesh_kind_facts
from meshmark_tasks.backends.kubernetes.security import (
    restricted_container_security_context,
    restricted_pod_security_context,
)
from meshmark_tasks.backends.kubernetes.settings import WAIT_CONTAINER_RESOURCES, KubernetesSettings
from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.matrix import Cell
from meshmark_tasks.profile import MeshConfig, Profile

LOADGEN_APP_LABEL = "meshmark-loadgen"
LABEL_CELL = "meshmark.io/cell"
LABEL_MESH = "meshmark.io/mesh"
LABEL_PROFILE = "meshmark.io/profile"
LABEL_COMPONENT = "app.kubernetes.io/name"
ANNOTATION_WARMUP = "meshmark.io/warmup"
IDLE_CONTAINER = "idle"
WARMUP_CONTAINER = "warmup"
WARMUP_NONE = "none"
WARMUP_INIT_CONTAINER = "init-container"
WARMUP_NATIVE_SIDECAR = "native-sidecar"
WARMUP_IN_CONTAINER = "in-container"


def expected_loadgen_labels(profile: Profile, cell: Cell) -> dict[str, str]:
    return {
        LABEL_COMPONENT: LOADGEN_APP_LABEL,
        LABEL_CELL: cell.cell_id,
        LABEL_MESH: cell.mesh,
        LABEL_PROFILE: profile.name,
    }


def warmup_mode(profile: Profile, mesh: MeshConfig, native_sidecars: bool) -> str:
    """Where this mesh's load-generator pod runs its warm-up (see the module docstring)."""
    facts = mesh_kind_facts(mesh.kind)
    if profile.warmup_s == 0:
        return WARMUP_NONE
    if not facts.sidecar:
        return WARMUP_INIT_CONTAINER
    if native_sidecars and facts.native_sidecar_annotations:
        return WARMUP_NATIVE_SIDECAR
    return WARMUP_IN_CONTAINER


def proxy_start_annotations(mesh: MeshConfig, native_sidecars: bool) -> dict[str, str]:
    """A sidecar mesh's proxy as a native sidecar where the cluster has them, else the annotations
    that hold the application containers until the proxy is ready."""
    facts = mesh_kind_facts(mesh.kind)
    if not facts.sidecar:
        return {}
    if native_sidecars and facts.native_sidecar_annotations:
        return dict(facts.native_sidecar_annotations)
    return dict(facts.proxy_wait_annotations)


def _restricted_container(name: str, image: str, resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "resources": resources,
        "securityContext": restricted_container_security_context(),
    }


def loadgen_pod_kwargs(
    profile: Profile,
    cell: Cell,
    settings: KubernetesSettings,
    *,
    deferrable: bool | None = None,
    native_sidecars: bool | None = None,
) -> dict[str, Any]:
    """Keyword arguments for KubernetesPodOperator (or .partial(...).expand_kwargs) running one cell.

    JSON-safe on purpose: the DAG's render task returns one of these per cell through XCom, and the
    mapped pod task is expanded from them (`KubernetesPodOperator.partial(...).expand_kwargs(...)`),
    so nested objects are in their API form (camelCase dicts), which the operator passes to the
    Kubernetes client unchanged. No `kubernetes` import is needed to render them.

    The pod runs in the mesh's namespace by default, so its traffic passes the client-side proxy as
    well (the profiles count two proxies in the data path). The KPO's XCom sidecar returns the tool's
    JSON result; `do_xcom_push=True` makes it the task's return value. No task_id: the caller names
    the task (a mapped task cannot take task_id from expand_kwargs). `deferrable` defaults to the
    settings' choice (see KubernetesSettings.deferrable). `native_sidecars` says whether the cluster
    runs native sidecars; None takes the profile's cluster.native_sidecars, and its `auto` as
    without (KubernetesBackend.native_sidecars resolves `auto` against the cluster).
    """
    if native_sidecars is None:
        native_sidecars = profile.cluster.native_sidecars is True
    mesh = profile.mesh(cell.mesh)
    facts = mesh_kind_facts(mesh.kind)
    mesh_namespace = settings.namespace_for(mesh.name)
    namespace = settings.loadgen_namespace_for(mesh.name)
    url = target_url(profile, cell, mesh_namespace)
    image = settings.image_for(profile.load_generator.tool, profile.load_generator.image)
    resources = {part: dict(values) for part, values in settings.loadgen_resources.items()}
    mode = warmup_mode(profile, mesh, native_sidecars)

    init_containers = []
    idle_s = profile.cluster.idle_s if facts.node_agents else 0
    if idle_s > 0:
        wait_resources = {part: dict(values) for part, values in WAIT_CONTAINER_RESOURCES.items()}
        idle = _restricted_container(IDLE_CONTAINER, settings.wait_image, wait_resources)
        idle["command"] = ["sleep", str(math.ceil(idle_s))]
        init_containers.append(idle)
    if mode == WARMUP_IN_CONTAINER:
        try:
            measured = warmup_then_measured(profile, cell, url)
        except MeshmarkError:
            raise MeshmarkError(
                f"cell {cell.cell_id}: mesh {mesh.name!r} ({mesh.kind}) injects its proxy without native "
                "sidecars here, so a warm-up in an init container would run before the proxy exists, and "
                f"{profile.load_generator.tool}'s image has no shell to run it first in the measured "
                "container: set cluster.native_sidecars: true (Kubernetes >= 1.29 and a mesh that "
                "supports them), use the nighthawk or k6 tool, or set warmup_s: 0"
            ) from None
    else:
        measured = tool_command(profile, cell, url, measured=True)
    if mode in (WARMUP_INIT_CONTAINER, WARMUP_NATIVE_SIDECAR):
        warmup = tool_command(profile, cell, url, measured=False)
        container = _restricted_container(WARMUP_CONTAINER, image, resources)
        if warmup.cmds:
            container["command"] = list(warmup.cmds)
        container["args"] = list(warmup.arguments)
        if warmup.env:
            container["env"] = [{"name": k, "value": v} for k, v in sorted(warmup.env.items())]
        init_containers.append(container)

    # Both proxies in the data path get the profile's per-proxy resources (the mesh's own injector
    # reads these annotations on the client pod too).
    annotations = {
        **sidecar_annotations(mesh),
        **proxy_start_annotations(mesh, native_sidecars),
        ANNOTATION_WARMUP: mode,
    }
    deadline = math.ceil(idle_s + profile.warmup_s + profile.duration_s) + settings.deadline_slack_s
    where = placement(profile)
    return {
        "name": f"loadgen-{cell.cell_id}",
        "namespace": namespace,
        "image": image,
        "cmds": list(measured.cmds),
        "arguments": list(measured.arguments),
        "env_vars": dict(sorted(measured.env.items())),
        "labels": expected_loadgen_labels(profile, cell),
        "annotations": annotations,
        "container_resources": resources,
        "init_containers": init_containers,
        "node_selector": where["node_selector"],
        "tolerations": where["tolerations"],
        "security_context": restricted_pod_security_context(settings),
        "container_security_context": restricted_container_security_context(),
        "xcom_sidecar_container_security_context": restricted_container_security_context(),
        "do_xcom_push": True,
        "get_logs": True,
        "on_finish_action": "delete_pod",
        # A user who marks the task failed (or success) gets the pod deleted, running or deferred.
        "on_kill_action": "delete_pod",
        "kubernetes_conn_id": settings.kubernetes_conn_id,
        "startup_timeout_seconds": settings.startup_timeout_s,
        "active_deadline_seconds": deadline,
        "automount_service_account_token": False,  # the load generator never talks to the API server
        "image_pull_policy": "IfNotPresent",
        "log_events_on_failure": True,
        "deferrable": settings.deferrable if deferrable is None else deferrable,
        "poll_interval": settings.poll_interval_s,
    }


def loadgen_pod_object(pod_kwargs: dict[str, Any], task_id: str = "loadgen") -> dict[str, Any]:
    """The Pod (API form) that KubernetesPodOperator builds from `pod_kwargs`: its own assembly, with
    its XCom sidecar and labels, without the labels of a task instance (`build_pod_request_obj` in
    dry-run mode, which needs no cluster and no kubeconfig). The pod name gets the operator's random
    suffix, as it does when the pod task runs."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from kubernetes.client import ApiClient

    operator = KubernetesPodOperator(task_id=task_id, **pod_kwargs)
    pod = operator.build_pod_request_obj(dry_run=True)
    serialized: dict[str, Any] = ApiClient().sanitize_for_serialization(pod)
    return serialized
