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


def loadgen_pod_kwargs(profile: Profile, cell: Cell, settings: KubernetesSettings) -> dict[str, Any]:
    """Keyword arguments for KubernetesPodOperator (or .partial(...).expand_kwargs) running one cell.

    The pod runs in the mesh's namespace by default, so its traffic passes the client-side proxy as
    well (the profiles count two proxies in the data path). The KPO's XCom sidecar returns the tool's
    JSON result; `do_xcom_push=True` makes it the task's return value. No task_id: the caller names
    the task (a mapped task cannot take task_id from expand_kwargs).
    """
    from kubernetes.client import models as k8s

    mesh = profile.mesh(cell.mesh)
    mesh_namespace = settings.namespace_for(mesh.name)
    namespace = settings.loadgen_namespace_for(mesh.name)
    url = target_url(profile, cell, mesh_namespace)
    image = settings.image_for(profile.load_generator.tool, profile.load_generator.image)
    measured = tool_command(profile, cell, url, measured=True)
    resources = k8s.V1ResourceRequirements(
        requests=dict(settings.loadgen_resources.get("requests", {})),
        limits=dict(settings.loadgen_resources.get("limits", {})),
    )

    init_containers = []
    if profile.warmup_s > 0:
        warmup = tool_command(profile, cell, url, measured=False)
        init_containers.append(
            k8s.V1Container(
                name="warmup",
                image=image,
                command=warmup.cmds or None,
                args=warmup.arguments,
                env=[k8s.V1EnvVar(name=k, value=v) for k, v in sorted(warmup.env.items())] or None,
                resources=resources,
                security_context=k8s.V1SecurityContext(**_snake(restricted_container_security_context())),
            )
        )

    # Both proxies in the data path get the profile's per-proxy resources (the mesh's own injector
    # reads these annotations on the client pod too).
    annotations = sidecar_annotations(mesh)
    deadline = math.ceil(profile.warmup_s + profile.duration_s) + settings.deadline_slack_s
    return {
        "name": f"loadgen-{cell.cell_id}",
        "namespace": namespace,
        "image": image,
        "cmds": measured.cmds,
        "arguments": measured.arguments,
        "env_vars": [k8s.V1EnvVar(name=k, value=v) for k, v in sorted(measured.env.items())],
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
        "kubernetes_conn_id": settings.kubernetes_conn_id,
        "startup_timeout_seconds": settings.startup_timeout_s,
        "active_deadline_seconds": deadline,
        "automount_service_account_token": False,  # the load generator never talks to the API server
        "image_pull_policy": "IfNotPresent",
        "log_events_on_failure": True,
        "deferrable": False,
    }


def _snake(camel: dict[str, Any]) -> dict[str, Any]:
    """V1SecurityContext wants snake_case keyword arguments; nested dicts deserialize fine."""
    from kubernetes.client import models as k8s

    return {
        "allow_privilege_escalation": camel["allowPrivilegeEscalation"],
        "run_as_non_root": camel["runAsNonRoot"],
        "capabilities": k8s.V1Capabilities(drop=camel["capabilities"]["drop"]),
        "seccomp_profile": k8s.V1SeccompProfile(type=camel["seccompProfile"]["type"]),
    }
