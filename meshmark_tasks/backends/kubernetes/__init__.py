"""The kubernetes backend: load-generator pods (KubernetesPodOperator), mesh manifests, PSS checks.

Nothing here talks to a cluster at import time; kubernetes/airflow imports happen inside functions.
"""

from meshmark_tasks.backends.kubernetes.apply import apply_manifests, delete_manifests
from meshmark_tasks.backends.kubernetes.manifests import render_mesh_manifests
from meshmark_tasks.backends.kubernetes.pods import loadgen_pod_kwargs
from meshmark_tasks.backends.kubernetes.pss import check_restricted_pss
from meshmark_tasks.backends.kubernetes.results import measurement_from_xcom
from meshmark_tasks.backends.kubernetes.settings import KubernetesSettings

__all__ = [
    "KubernetesSettings",
    "apply_manifests",
    "check_restricted_pss",
    "delete_manifests",
    "loadgen_pod_kwargs",
    "measurement_from_xcom",
    "render_mesh_manifests",
]
