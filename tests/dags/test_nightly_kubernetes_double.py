"""The nightly DAG on the kubernetes backend, up to the cluster boundary.

No Kubernetes API server can run here. This test runs `meshmark_nightly` for real under dag.test()
with backend=kubernetes, the mapped `loadgen` KubernetesPodOperator task once synchronously and once
deferred (dag.test runs the trigger in line); only the boundaries are doubles:
- the pods: tests/kubernetes/pod_double.py stands in for the API server behind
  KubernetesPodOperator (and behind its trigger's async client); it admits a pod only if it
  validates against the Kubernetes schema and the restricted Pod Security Standard, and answers
  with the real upstream fortio result;
- the mesh manifests: a recording API client behind the KubernetesHook (apply at provision, delete
  at teardown);
- Prometheus: mesh_resource_usage() is replaced by a recorder (the real query code is tested against
  a real Prometheus in tests/kubernetes/test_prometheus.py).
The second test runs the sidecar-vs-ambient profile: all six mesh configurations, sidecar and
sidecarless, through the same DAG to the same tables.
Everything between (pod rendering, the operator, the trigger, XCom, collecting, validation, scoring,
Parquet) is the real code.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "kubernetes"))

from conftest import OFFLINE_KUBECONFIG, XCOM_SIDECAR_RESOURCES  # noqa: E402
from pod_double import FakeCluster, cluster_double  # noqa: E402

# The upstream fortio run did 38.448 QPS; asking for that rate keeps it inside the QPS tolerance.
CONF = {
    "profile": "cluster-istio-linkerd",
    "backend": "kubernetes",
    "meshes": ["baseline", "istio"],
    "qps": [38.448],
    "connections": [16],
}


@dataclass
class RecordingApiClient:
    calls: list[tuple[str, str]] = field(default_factory=list)

    def call_api(self, path: str, method: str, **_: Any) -> dict[str, Any]:
        self.calls.append((method, path))
        if (method, path) == ("GET", "/version"):  # native sidecars are detected from the version
            return {"major": "1", "minor": "33", "gitVersion": "v1.33.1"}
        return {}


@dataclass
class RecordingHook:
    api_client: RecordingApiClient = field(default_factory=RecordingApiClient)


@pytest.fixture
def airflow_db() -> None:
    from airflow.models.pool import Pool
    from airflow.utils.db import initdb

    initdb()
    Pool.create_or_update_pool("meshmark_loadtest", slots=1, description="tests", include_deferred=False)


def _wire(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> tuple[RecordingHook, list[Any]]:
    """The connections and doubles around a kubernetes run; returns the hook and the metric requests."""
    from meshmark_tasks.backends.kubernetes import backend as k8s_backend
    from meshmark_tasks.measurement import ResourceUsage

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(OFFLINE_KUBECONFIG)
    extra = {
        "kube_config_path": str(kubeconfig),
        "xcom_sidecar_container_resources": json.dumps(XCOM_SIDECAR_RESOURCES),
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps({"conn_type": "kubernetes", "extra": extra})
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_MESHMARK_PROMETHEUS", json.dumps({"conn_type": "http", "host": "prom.test"})
    )
    monkeypatch.setenv("MESHMARK_STORAGE_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("MESHMARK_K8S_DEFERRABLE", str(deferrable).lower())
    monkeypatch.setenv("MESHMARK_K8S_POLL_INTERVAL_S", "0.2")

    hook = RecordingHook()
    monkeypatch.setattr(k8s_backend, "kubernetes_hook", lambda settings: hook)
    windows: list[dict[str, Any]] = []

    def fake_resource_usage(url: str, layout: Any, **kwargs: Any) -> ResourceUsage:
        windows.append({"url": url, "layout": layout, **kwargs})
        mesh = 0.0 if kwargs["zero_components"] else 0.2
        return ResourceUsage(0.5, mesh, mesh / 2, 200e6, mesh * 1e9, mesh * 1e9)

    monkeypatch.setattr(k8s_backend, "mesh_resource_usage", fake_resource_usage)
    return hook, windows


@pytest.mark.parametrize("deferrable", [False, True], ids=["synchronous", "deferred"])
def test_kubernetes_run_goes_to_the_same_tables(
    airflow_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    from meshmark_tasks.storage import DatasetStore

    hook, windows = _wire(tmp_path, monkeypatch, deferrable)
    dag = DagBag(dag_folder=str(REPO / "dags")).dags["meshmark_nightly"]
    cluster = FakeCluster()
    with cluster_double(cluster):
        run = dag.test(run_conf=CONF, logical_date=datetime(2026, 11, 20, 2, tzinfo=UTC))
    assert str(run.state) == "success"
    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}
    assert states[("run_cell", -1)] == "skipped"  # the branch took the kubernetes path
    assert [states[("loadgen", i)] for i in range(4)] == ["success"] * 4
    assert [states[("collect", i)] for i in range(4)] == ["success"] * 4
    labels = {
        ti.map_index: ti.rendered_map_index for ti in run.get_task_instances() if ti.task_id == "loadgen"
    }
    assert labels[0] == "baseline-q38p448-c16-b1024-http-r0"  # each pod task is labelled by its cell

    # Every pod the operator sent was admitted by the double (schema + restricted PSS + labels).
    # (the profile asks for two repetitions of each cell)
    assert sorted(p["metadata"]["labels"]["meshmark.io/cell"] for p in cluster.created) == [
        "baseline-q38p448-c16-b1024-http-r0",
        "baseline-q38p448-c16-b1024-http-r1",
        "istio-q38p448-c16-b1024-http-r0",
        "istio-q38p448-c16-b1024-http-r1",
    ]
    assert len(cluster.deleted) == 4  # every pod deleted once done (on_finish_action=delete_pod)
    assert (cluster.trigger_reads > 0) is deferrable  # deferred: the trigger watched the pods
    # Manifests applied at provision and deleted at teardown, through the hook.
    methods = [m for m, _ in hook.api_client.calls]
    assert "PATCH" in methods and "DELETE" in methods
    assert any("/namespaces/meshmark-istio" in p for _, p in hook.api_client.calls)
    # Metrics were asked for each cell's own window and namespace; baselines have no mesh parts.
    assert {w["layout"].benchmark_namespace for w in windows} == {"meshmark-baseline", "meshmark-istio"}
    # the cluster answered 1.33: istio's proxy was asked for as a native sidecar, after which the
    # warm-up init container runs
    istio_pods = [p for p in cluster.created if p["metadata"]["labels"]["meshmark.io/mesh"] == "istio"]
    assert all(p["metadata"]["annotations"]["meshmark.io/warmup"] == "native-sidecar" for p in istio_pods)
    assert ("GET", "/version") in hook.api_client.calls
    assert all(w["url"] == "http://prom.test" for w in windows)

    store = DatasetStore(str(tmp_path / "data"))
    results = store.read("results").to_pandas()
    assert sorted(results["mesh"]) == ["baseline", "baseline", "istio", "istio"]
    assert set(results["backend"]) == {"kubernetes"}
    assert set(results["requests_total"]) == {4}
    scored = store.read("meshmark").to_pandas()
    assert len(scored) == 4
    istio = scored[scored["mesh"] == "istio"]
    assert list(istio["mue_latency_overhead"]) == pytest.approx([1.0, 1.0])  # same recorded latency
    configs = store.read("meshmark_config").to_pandas().set_index("mesh")
    assert configs.loc["istio", "meshmark_mean"] < configs.loc["baseline", "meshmark_mean"]  # proxies cost
    assert configs.loc["istio", "cells_scored"] == 2
    assert store.read("quarantine").num_rows == 0
    raw = results.loc[results["mesh"] == "istio", "raw_path"].iloc[0]
    assert raw.endswith(".json.gz")  # kept gzip-compressed
    assert json.loads(store.read_raw(raw))["RunType"] == "HTTP"  # the pod's output, kept losslessly


AMBIENT_CONF = {
    "profile": "cluster-sidecar-vs-ambient",
    "backend": "kubernetes",
    "qps": [38.448],
    "connections": [16],
}


def test_sidecar_and_sidecarless_meshes_reach_the_same_tables(
    airflow_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every mesh kind of the sidecar-vs-ambient profile through the DAG: pods admitted, each cell's
    metrics asked with its kind's layout (node agents and an idle stretch for ztunnel/cilium-envoy),
    rows and MeshMark for all six configurations."""
    from airflow.dag_processing.dagbag import DagBag

    from meshmark_tasks.storage import DatasetStore

    hook, windows = _wire(tmp_path, monkeypatch, deferrable=False)
    dag = DagBag(dag_folder=str(REPO / "dags")).dags["meshmark_nightly"]
    cluster = FakeCluster()
    with cluster_double(cluster):
        run = dag.test(run_conf=AMBIENT_CONF, logical_date=datetime(2026, 11, 21, 2, tzinfo=UTC))
    assert str(run.state) == "success"
    meshes = ["baseline", "istio-sidecar", "istio-ambient", "istio-waypoint", "linkerd", "cilium"]
    assert sorted({p["metadata"]["labels"]["meshmark.io/mesh"] for p in cluster.created}) == sorted(meshes)
    assert cluster.rejected == []
    by_mesh = {p["metadata"]["labels"]["meshmark.io/mesh"]: p for p in cluster.created}
    warmups = {mesh: pod["metadata"]["annotations"]["meshmark.io/warmup"] for mesh, pod in by_mesh.items()}
    assert warmups == {
        "baseline": "init-container",
        "istio-sidecar": "native-sidecar",
        "istio-ambient": "init-container",
        "istio-waypoint": "init-container",
        "linkerd": "native-sidecar",
        "cilium": "init-container",
    }
    for mesh in ("istio-ambient", "istio-waypoint", "cilium"):  # node-level: a quiet stretch first
        assert [c["name"] for c in by_mesh[mesh]["spec"]["initContainers"]] == ["idle", "warmup"]
    assert all(p["spec"]["nodeSelector"] == {"meshmark.io/benchmark": "true"} for p in cluster.created)
    # the waypoint and the Cilium policy were applied at provision
    paths = [path for method, path in hook.api_client.calls if method == "PATCH"]
    assert any(p.endswith("/namespaces/meshmark-istio-waypoint/gateways/waypoint") for p in paths)
    assert any("/namespaces/meshmark-cilium/ciliumnetworkpolicies/" in p for p in paths)
    asked = {w["layout"].benchmark_namespace: w for w in windows}
    assert asked["meshmark-istio-ambient"]["layout"].node_agents[0].pod_prefix == "ztunnel"
    assert asked["meshmark-istio-ambient"]["layout"].dataplane == ()  # no proxy in an ambient namespace
    assert asked["meshmark-istio-waypoint"]["layout"].dataplane[0].containers == ("istio-proxy",)
    assert asked["meshmark-cilium"]["layout"].node_agents[0].containers == ("cilium-envoy",)
    for namespace in ("meshmark-istio-ambient", "meshmark-istio-waypoint", "meshmark-cilium"):
        idle_start, idle_end = asked[namespace]["idle"]
        assert asked[namespace]["start"] - idle_end == timedelta(seconds=15 + 5)  # warm-up + guard
        assert idle_end - idle_start == timedelta(seconds=45 - 5)
    assert asked["meshmark-linkerd"]["idle"] is None and asked["meshmark-linkerd"]["layout"].node_agents == ()

    store = DatasetStore(str(tmp_path / "data"))
    results = store.read("results").to_pandas()
    assert sorted(set(results["mesh"])) == sorted(meshes)
    assert len(results) == 12  # six meshes, two repetitions
    assert set(results.loc[results["mesh"] == "istio-waypoint", "mesh_kind"]) == {"istio-ambient"}
    scored = store.read("meshmark_config").to_pandas().set_index("mesh")
    assert sorted(scored.index) == sorted(meshes)
    assert store.read("quarantine").num_rows == 0
