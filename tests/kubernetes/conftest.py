"""Kubernetes backend fixtures: an offline kubeconfig and the helpers beside this file on sys.path."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # pod_double, k8s_schema

# Points at a port nothing listens on: building pods needs a config file, never a server.
OFFLINE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: offline
  cluster: {server: "https://127.0.0.1:9"}
users:
- name: offline
  user: {token: offline-test-token}
contexts:
- name: offline
  context: {cluster: offline, user: offline, namespace: default}
current-context: offline
"""

# The XCom sidecar's resources come from the connection (the operator has no argument for them);
# a real deployment sets the same extra, see docs/kubernetes-backend.md.
XCOM_SIDECAR_RESOURCES = {
    "requests": {"cpu": "10m", "memory": "16Mi"},
    "limits": {"cpu": "100m", "memory": "64Mi"},
}


@pytest.fixture
def kube_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An Airflow 'kubernetes_default' connection (env var) pointing at an offline kubeconfig."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(OFFLINE_KUBECONFIG, encoding="utf-8")
    conn = {
        "conn_type": "kubernetes",
        "extra": {
            "kube_config_path": str(kubeconfig),
            "xcom_sidecar_container_resources": json.dumps(XCOM_SIDECAR_RESOURCES),
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    return "kubernetes_default"
