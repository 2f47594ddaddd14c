"""KubernetesPodOperator arguments for one cell's load-generator pod."""

from __future__ import annotations

import math
from typing import Any

from meshmark_tasks.backends.kubernetes.commands import target_url, tool_command
from meshmark_tasks.backends.kubernetes.manifests import sidecar_annotations
from meshmark_tasks.backends.kubernetes.security import (
    restricted_container_security_context,
    restricted_pod_security_context,
)
from meshmark_tasks.backends.kubernetes.settings import KubernetesSettings
from meshmark_tasks.matrix import Cell
from meshmark_tasks.profile import Profile

LOADGEN_APP_LABEL = "meshmark-loadgen"
LABEL_CELL = "meshmark.io/cell"
LABEL_MESH = "meshmark.io/mesh"
LABEL_PROFILE = "meshmark.io/profile"
LABEL_COMPONENT = "app.kubernetes.io/name"


def expected_loadgen_labels(profile: Profile, cell: Cell) -> dict[str, str]:
    return {
        LABEL_COMPONENT: LOADGEN_APP_LABEL,
        LABEL_CELL: cell.cell_id,
        LABEL_MESH: cell.mesh,
        LABEL_PROFILE: profile.name,
    }


def loadgen_pod_kwargs(
    profile: Profile, cell: Cell, settings: KubernetesSettings, *, deferrable: bool | None = None
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
    settings' choice (see KubernetesSettings.deferrable).
    """
    mesh = profile.mesh(cell.mesh)
    mesh_namespace = settings.namespace_for(mesh.name)
    namespace = settings.loadgen_namespace_for(mesh.name)
    url = target_url(profile, cell, mesh_namespace)
    image = settings.image_for(profile.load_generator.tool, profile.load_generator.image)
    measured = tool_command(profile, cell, url, measured=True)
    resources = {part: dict(values) for part, values in settings.loadgen_resources.items()}

    init_containers = []
    if profile.warmup_s > 0:
        warmup = tool_command(profile, cell, url, measured=False)
        container: dict[str, Any] = {"name": "warmup", "image": image}
        if warmup.cmds:
            container["command"] = list(warmup.cmds)
        container["args"] = list(warmup.arguments)
        if warmup.env:
            container["env"] = [{"name": k, "value": v} for k, v in sorted(warmup.env.items())]
        container["resources"] = resources
        container["securityContext"] = restricted_container_security_context()
        init_containers.append(container)

    # Both proxies in the data path get the profile's per-proxy resources (the mesh's own injector
    # reads these annotations on the client pod too).
    annotations = sidecar_annotations(mesh)
    deadline = math.ceil(profile.warmup_s + profile.duration_s) + settings.deadline_slack_s
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
