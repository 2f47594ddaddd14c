"""What the official Apache Airflow Helm chart makes of deploy/helm/values.yaml, for the pinned chart.

Neither Helm's chart repository nor GitHub is reachable from here, so the chart is not rendered: these
are facts read from the chart's own templates and default values in apache/airflow (each cited with the
file and the commit it was read at), written as the small derivations the templates perform. They cover
exactly what the deployment depends on: object kinds and names (for the docs' kubectl commands), the
api-server pod's volumes and init containers (for the auth file), the Secret keys the chart reads and
git-sync's variable names. docs/deploy.md carries the same kind/name table and tells the operator how to
confirm it with `helm template` before installing.
"""

from __future__ import annotations

import copy
import posixpath
from dataclasses import dataclass
from typing import Any

CHART_VERSION = "1.22.0"
CHART = "apache-airflow/airflow"
CHART_REPO = ("apache-airflow", "https://airflow.apache.org")
MIN_HELM = "3.19"  # chart 1.22.0 release notes: "Minimum Helm version was updated to 3.19.0"

# Where each fact was read (repository apache/airflow).
SOURCES = {
    "helpers": "chart/templates/_helpers.yaml @ 2f77e9cf (airflow.fullname; standard env: fernet-key)",
    "values": "chart/values.yaml @ 024658b8 (defaults below; images.gitSync tag note)",
    "scheduler": "chart/templates/scheduler/scheduler-deployment.yaml @ 008b0756",
    "triggerer": "chart/templates/triggerer/triggerer-deployment.yaml @ 00e09107",
    "dag-processor": "chart/templates/dag-processor/dag-processor-deployment.yaml @ 01d5bb62",
    "api-server": "chart/templates/api-server/api-server-deployment.yaml @ b9584335",
    "api-server-service": "chart/templates/api-server/api-server-service.yaml @ 389ca56b",
    "api-secret-key": "chart/templates/secrets/api-secret-key-secret.yaml @ 0ffea1db",
    "jwt-secret": "chart/templates/secrets/jwt-secret.yaml @ 03bb5daa",
    "git-sync-tests": "helm-tests/tests/helm_tests/other/test_git_sync_scheduler.py @ 024658b8",
}

# The chart's defaults that the derivations below read (chart/values.yaml).
CHART_DEFAULTS: dict[str, Any] = {
    "executor": "CeleryExecutor",
    "workers": {"persistence": {"enabled": True, "storageClassName": None}},
    "triggerer": {"enabled": True, "persistence": {"enabled": True, "storageClassName": None}},
    "dagProcessor": {"enabled": None},  # None: on for Airflow >= 3 (scheduler-deployment.yaml)
    "apiServer": {"enabled": True},
    "logs": {"persistence": {"enabled": False}},
    "ports": {"apiServer": 8080},
    "images": {"gitSync": {"repository": "registry.k8s.io/git-sync/git-sync", "tag": "v4.4.2"}},
    "dags": {"gitSync": {"ref": "v2-2-stable", "branch": "v2-2-stable", "rev": "HEAD"}},
    "volumes": [],
    "volumeMounts": [],
}

# Keys the chart reads from the Secrets named by these values (helpers, api-secret-key, jwt-secret).
SECRET_KEYS = {
    "data.metadataSecretName": "connection",
    "fernetKeySecretName": "fernet-key",
    "apiSecretKeySecretName": "api-secret-key",
    "jwtSecretName": "jwt-secret",
}


@dataclass(frozen=True)
class ChartObject:
    kind: str
    name: str
    source: str  # key of SOURCES
    containers: tuple[str, ...] = ()
    volume_claim_templates: tuple[str, ...] = ()


def merged(values: dict[str, Any]) -> dict[str, Any]:
    """The chart's defaults overlaid with our values (Helm's merge: maps deep, everything else replaced)."""

    def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(base)
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
        return out

    return merge(CHART_DEFAULTS, values)


def fullname(release: str) -> str:
    """airflow.fullname: the release name when it contains the chart's name, else <release>-airflow."""
    return release if "airflow" in release else f"{release}-airflow"


def git_sync_prefix(values: dict[str, Any]) -> str:
    """The variables git-sync is configured with: GIT_SYNC_* for a v3 image, GITSYNC_* for v4/latest."""
    tag = str(merged(values)["images"]["gitSync"]["tag"])
    return "GIT_SYNC_" if tag.startswith("v3") else "GITSYNC_"


def chart_objects(values: dict[str, Any], release: str = "airflow") -> list[ChartObject]:
    """The Airflow workloads and the api-server Service the chart creates with these values."""
    v = merged(values)
    name = fullname(release)
    git_sync = ("git-sync",) if v["dags"]["gitSync"].get("enabled") else ()
    objects = []

    # scheduler: a StatefulSet when the executor contains "Local" and worker persistence is on (the
    # scheduler is then the worker), else a Deployment; a StatefulSet's "logs" volume is a
    # volumeClaimTemplate unless logs.persistence supplies one shared claim.
    local = "Local" in v["executor"]
    stateful = local and bool(v["workers"]["persistence"]["enabled"])
    shared_logs = bool(v["logs"]["persistence"]["enabled"])
    dag_processor = v["dagProcessor"]["enabled"] is not False  # None means on for Airflow 3
    objects.append(
        ChartObject(
            "StatefulSet" if stateful else "Deployment",
            f"{name}-scheduler",
            "scheduler",
            ("scheduler", *(git_sync if local or not dag_processor else ()), "scheduler-log-groomer"),
            ("logs",) if stateful and not shared_logs else (),
        )
    )
    # triggerer: a StatefulSet with a "logs" volumeClaimTemplate when triggerer.persistence is on.
    if v["triggerer"]["enabled"]:
        persistent = bool(v["triggerer"]["persistence"]["enabled"])
        objects.append(
            ChartObject(
                "StatefulSet" if persistent else "Deployment",
                f"{name}-triggerer",
                "triggerer",
                ("triggerer", *git_sync, "triggerer-log-groomer"),
                ("logs",) if persistent and not shared_logs else (),
            )
        )
    if dag_processor:
        objects.append(
            ChartObject(
                "Deployment",
                f"{name}-dag-processor",
                "dag-processor",
                ("dag-processor", *git_sync, "dag-processor-log-groomer"),
            )
        )
    if v["apiServer"]["enabled"]:
        objects.append(ChartObject("Deployment", f"{name}-api-server", "api-server", ("api-server",)))
        objects.append(ChartObject("Service", f"{name}-api-server", "api-server-service"))
    return objects


def pods_and_claims(objects: list[ChartObject]) -> set[tuple[str, str]]:
    """(kind, name) of the first pod of each StatefulSet and of the claims its templates create."""
    found = set()
    for obj in objects:
        if obj.kind == "StatefulSet":
            found.add(("Pod", f"{obj.name}-0"))
            found.update(("PersistentVolumeClaim", f"{t}-{obj.name}-0") for t in obj.volume_claim_templates)
    return found


def claims_without_storage_class(values: dict[str, Any], release: str = "airflow") -> list[str]:
    """volumeClaimTemplates that name no storageClassName: the cluster's default StorageClass binds them."""
    v = merged(values)
    classes = {"scheduler": v["workers"]["persistence"], "triggerer": v["triggerer"]["persistence"]}
    return [
        f"{template}-{obj.name}-0"
        for obj in chart_objects(values, release)
        for template in obj.volume_claim_templates
        if not classes[obj.source].get("storageClassName")
    ]


def api_server_pod(values: dict[str, Any], release: str = "airflow") -> dict[str, Any]:
    """The api-server Deployment's pod, reduced to what api-server-deployment.yaml puts in it: the
    config volume, `volumes` and apiServer.extraVolumes; a wait-for-airflow-migrations init container
    mounting config + volumeMounts + apiServer.extraVolumeMounts, then apiServer.extraInitContainers
    verbatim; the api-server container with the same mounts."""
    v = merged(values)
    api = v["apiServer"]
    image = f"{v['images']['airflow']['repository']}:{v['images']['airflow']['tag']}"
    config_mount = {
        "name": "config",
        "mountPath": "/opt/airflow/airflow.cfg",
        "subPath": "airflow.cfg",
        "readOnly": True,
    }
    mounts = [config_mount, *v["volumeMounts"], *api.get("extraVolumeMounts", [])]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{fullname(release)}-api-server"},
        "spec": {
            "initContainers": [
                {"name": "wait-for-airflow-migrations", "image": image, "volumeMounts": mounts},
                *api.get("extraInitContainers", []),
            ],
            "containers": [
                {
                    "name": "api-server",
                    "image": image,
                    "volumeMounts": mounts,
                    "ports": [{"name": "api-server", "containerPort": v["ports"]["apiServer"]}],
                }
            ],
            "volumes": [
                {"name": "config", "configMap": {"name": f"{fullname(release)}-config"}},
                *v["volumes"],
                *api.get("extraVolumes", []),
            ],
        },
    }


def mount_for(container: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The volume mount a path lives under in a container (the deepest one)."""
    under = [
        m
        for m in container.get("volumeMounts", [])
        if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")
    ]
    return max(under, key=lambda m: len(m["mountPath"]), default=None)


def secret_references(values: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(secret name, key, what reads it) for every Secret these values point the chart at."""
    v = merged(values)
    refs = []
    for path, key in SECRET_KEYS.items():
        node: Any = v
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node:
            refs.append((node, key, path))
    refs += [(s["secretName"], s["secretKey"], f"secret[{s['envName']}]") for s in v.get("secret", [])]
    for volume in v["apiServer"].get("extraVolumes", []):
        secret = volume.get("secret")
        if secret:
            keys = [item["key"] for item in secret.get("items", [])] or ["(all keys)"]
            refs += [(secret["secretName"], key, f"apiServer.extraVolumes[{volume['name']}]") for key in keys]
    credentials = v["dags"]["gitSync"].get("credentialsSecret")
    if credentials:
        prefix = git_sync_prefix(values)
        refs += [
            (credentials, f"{prefix}{k}", "dags.gitSync.credentialsSecret") for k in ("USERNAME", "PASSWORD")
        ]
    return refs


def passwords_file(values: dict[str, Any]) -> tuple[str, str]:
    """(directory, file name) of the simple auth manager's password file."""
    path = str(values["config"]["core"]["simple_auth_manager_passwords_file"])
    return posixpath.dirname(path), posixpath.basename(path)
