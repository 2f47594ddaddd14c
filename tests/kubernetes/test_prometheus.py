"""resource_usage() against a real Prometheus server scraping a local container-metrics exporter.

The exporter (an http.server thread on 127.0.0.1) serves cAdvisor-shaped series: CPU counters that
grow at programmed rates per container and namespace, and constant working-set gauges, plus series
that must NOT be counted (pod-level cgroups with container="", the pause container, the load
generator's own container, another mesh's namespace). Prometheus (Debian package, installed by
scripts/install-prometheus.sh, started here with a 1 s scrape interval) scrapes it; the test waits for
a few scrapes and checks the means within 10 %.

Node-level data planes: ztunnel and cilium-envoy series carry a `node` label, as do the benchmark
namespaces' containers, and their rates change at a known moment (SWITCH_S after the exporter
starts: idle before, under load after), on the benchmark's nodes and on a node that is not one of
them. The attribution (agents on the benchmark's nodes, window minus idle stretch) is checked against
the programmed numbers.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from meshmark_tasks.backends.kubernetes.mesh_kinds import usage_layout
from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.metrics.prometheus import (
    mesh_resource_usage,
    node_agent_usage,
    prometheus_url_from_connection,
    resource_usage,
)
from meshmark_tasks.profile import MeshConfig

REPO = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024

# (namespace, pod, container, cpu cores, working-set bytes)
SERIES: list[tuple[str, str, str, float, float]] = [
    ("meshmark-istio", "meshmark-app-5d9c", "app", 0.5, 100 * MIB),
    ("meshmark-istio", "meshmark-app-5d9c", "istio-proxy", 0.15, 40 * MIB),
    ("meshmark-istio", "loadgen-cell-x7", "istio-proxy", 0.05, 30 * MIB),
    ("meshmark-istio", "loadgen-cell-x7", "base", 0.9, 50 * MIB),  # the load generator: not the app
    ("meshmark-istio", "meshmark-app-5d9c", "", 0.65, 140 * MIB),  # pod-level cgroup: never counted
    ("istio-system", "istiod-7f8b", "discovery", 0.1, 200 * MIB),
    ("istio-system", "istiod-7f8b", "POD", 0.3, 1 * MIB),  # pause container: excluded
    ("meshmark-linkerd", "meshmark-app-1a2b", "app", 0.7, 90 * MIB),  # another mesh's namespace
    ("istio-system", "istio-cni-node-x9", "install-cni", 0.01, 30 * MIB),  # ambient's CNI agent
    ("meshmark-lkd", "meshmark-app-3c4d", "app", 0.6, 80 * MIB),
    ("meshmark-lkd", "meshmark-app-3c4d", "linkerd-proxy", 0.08, 15 * MIB),
    ("meshmark-lkd", "loadgen-lkd-r0", "linkerd-proxy", 0.04, 12 * MIB),
    ("linkerd", "linkerd-destination-7b", "destination", 0.03, 60 * MIB),
]

# Node-level series: (namespace, pod, container, node, idle cores, load cores, idle bytes, load bytes).
# The rates switch from idle to load SWITCH_S seconds after the exporter starts.
SWITCH_S = 12.0
NODE_SERIES: list[tuple[str, str, str, str, float, float, float, float]] = [
    # Istio ambient: app on node-1, load generator on node-2 -> benchmark nodes 1 and 2
    ("meshmark-istio-ambient", "meshmark-app-77aa", "app", "node-1", 0.4, 0.4, 100 * MIB, 100 * MIB),
    ("meshmark-istio-ambient", "loadgen-amb-r0", "base", "node-2", 0.8, 0.8, 50 * MIB, 50 * MIB),
    ("istio-system", "ztunnel-n1aaa", "istio-proxy", "node-1", 0.01, 0.25, 20 * MIB, 35 * MIB),
    ("istio-system", "ztunnel-n2bbb", "istio-proxy", "node-2", 0.02, 0.15, 22 * MIB, 30 * MIB),
    # another node's ztunnel gets busier too (someone else's traffic): never attributed
    ("istio-system", "ztunnel-n3ccc", "istio-proxy", "node-3", 0.05, 0.5, 25 * MIB, 60 * MIB),
    # ambient with a waypoint: app on node-1, the waypoint (istio-proxy) on node-2
    ("meshmark-istio-waypoint", "meshmark-app-88bb", "app", "node-1", 0.4, 0.4, 100 * MIB, 100 * MIB),
    ("meshmark-istio-waypoint", "waypoint-5f6d-x2", "istio-proxy", "node-2", 0.3, 0.3, 60 * MIB, 60 * MIB),
    # Cilium: app and load generator on node-1
    ("meshmark-cilium", "meshmark-app-99cc", "app", "node-1", 0.45, 0.45, 90 * MIB, 90 * MIB),
    ("meshmark-cilium", "loadgen-cil-r0", "base", "node-1", 0.8, 0.8, 50 * MIB, 50 * MIB),
    ("kube-system", "cilium-envoy-n1", "cilium-envoy", "node-1", 0.005, 0.12, 30 * MIB, 40 * MIB),
    ("kube-system", "cilium-envoy-n3", "cilium-envoy", "node-3", 0.3, 0.6, 30 * MIB, 50 * MIB),
    ("kube-system", "cilium-k8x2p", "cilium-agent", "node-1", 0.05, 0.05, 200 * MIB, 200 * MIB),
    ("kube-system", "cilium-operator-6c-q", "cilium-operator", "node-2", 0.02, 0.02, 80 * MIB, 80 * MIB),
    ("kube-system", "coredns-5d-z", "coredns", "node-2", 0.2, 0.2, 40 * MIB, 40 * MIB),  # not Cilium's
]


class Exporter:
    def __init__(self) -> None:
        self.t0 = time.time()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def render(self) -> str:
        elapsed = time.time() - self.t0
        lines = ["# TYPE container_cpu_usage_seconds_total counter"]
        for ns, pod, container, cores, _ in SERIES:
            labels = f'namespace="{ns}",pod="{pod}",container="{container}",cpu="total"'
            lines.append(f"container_cpu_usage_seconds_total{{{labels}}} {1000 + cores * elapsed:.6f}")
        for ns, pod, container, node, idle, load, _, _ in NODE_SERIES:
            labels = f'namespace="{ns}",pod="{pod}",container="{container}",node="{node}",cpu="total"'
            used = idle * min(elapsed, SWITCH_S) + load * max(0.0, elapsed - SWITCH_S)
            lines.append(f"container_cpu_usage_seconds_total{{{labels}}} {1000 + used:.6f}")
        lines.append("# TYPE container_memory_working_set_bytes gauge")
        for ns, pod, container, _, mem in SERIES:
            labels = f'namespace="{ns}",pod="{pod}",container="{container}"'
            lines.append(f"container_memory_working_set_bytes{{{labels}}} {mem:.0f}")
        for ns, pod, container, node, _, _, idle_mem, load_mem in NODE_SERIES:
            labels = f'namespace="{ns}",pod="{pod}",container="{container}",node="{node}"'
            mem = idle_mem if elapsed < SWITCH_S else load_mem
            lines.append(f"container_memory_working_set_bytes{{{labels}}} {mem:.0f}")
        return "\n".join(lines) + "\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip(
            "prometheus is not installed and apt needs root: run scripts/install-prometheus.sh as root"
        )
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "install-prometheus.sh")], capture_output=True, text=True, timeout=900
    )
    if done.returncode != 0 and not shutil.which("prometheus"):
        pytest.fail(f"scripts/install-prometheus.sh failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    found = shutil.which("prometheus")
    assert found, "install-prometheus.sh succeeded but no prometheus on PATH"
    return found


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    binary = _prometheus_binary()
    exporter = Exporter()
    exporter.thread.start()
    workdir = tmp_path_factory.mktemp("prometheus")
    config = workdir / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: cadvisor-like\n"
        "    honor_labels: true\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter.port}']}}]\n",
        encoding="utf-8",
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"prometheus did not become ready:\n{(workdir / 'prometheus.log').read_text()[-3000:]}"
                )
            time.sleep(0.2)
        started = datetime.now(UTC)
        _wait_for_samples(url, 9, deadline=time.monotonic() + 90)
        yield {"url": url, "started": started, "process": process, "t0": exporter.t0}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        exporter.server.shutdown()
        exporter.server.server_close()


def _wait_for_samples(url: str, wanted: int, deadline: float) -> None:
    """Prometheus starts scraping a moment after it is ready; wait until the window is fully covered
    (a series that exists for only part of a rate() window reads low, by design)."""
    query = (
        'count_over_time(container_cpu_usage_seconds_total{container="app",namespace="meshmark-istio"}[10s])'
    )
    while time.monotonic() < deadline:
        answer = requests.get(f"{url}/api/v1/query", params={"query": query}, timeout=5).json()
        result = answer["data"]["result"]
        if result and float(result[0]["value"][1]) >= wanted:
            return
        time.sleep(0.5)
    pytest.fail(f"prometheus at {url} did not collect {wanted} scrapes in time")


def _window(prom: dict[str, Any]) -> tuple[datetime, datetime]:
    end = datetime.now(UTC) - timedelta(seconds=1)
    return end - timedelta(seconds=6), end


@pytest.mark.services
def test_cores_and_bytes_per_component(prometheus: dict[str, Any]) -> None:
    start, end = _window(prometheus)
    usage = resource_usage(prometheus["url"], namespace="meshmark-istio", start=start, end=end, step_s=1)
    assert usage.cpu_cores_app == pytest.approx(0.5, rel=0.10)
    assert usage.cpu_cores_dataplane == pytest.approx(0.2, rel=0.10)  # both istio-proxy containers
    # istiod, the CNI agent and linkerd's destination (the default control-plane namespaces); not
    # the pause container, not ztunnel (data plane)
    assert usage.cpu_cores_controlplane == pytest.approx(0.14, rel=0.10)
    assert usage.mem_bytes_app == pytest.approx(100 * MIB, rel=0.10)
    assert usage.mem_bytes_dataplane == pytest.approx(70 * MIB, rel=0.10)
    assert usage.mem_bytes_controlplane == pytest.approx(290 * MIB, rel=0.10)


@pytest.mark.services
def test_missing_components_are_none_and_known_absent_ones_zero(prometheus: dict[str, Any]) -> None:
    start, end = _window(prometheus)
    linkerd = resource_usage(
        prometheus["url"],
        namespace="meshmark-linkerd",
        start=start,
        end=end,
        controlplane_namespaces=("consul",),  # no consul here
        step_s=1,
    )
    assert linkerd.cpu_cores_app == pytest.approx(0.7, rel=0.10)
    assert linkerd.cpu_cores_dataplane is None and linkerd.mem_bytes_dataplane is None  # no proxy series
    assert linkerd.cpu_cores_controlplane is None and linkerd.mem_bytes_controlplane is None
    baseline = resource_usage(
        prometheus["url"],
        namespace="meshmark-istio",
        start=start,
        end=end,
        step_s=1,
        zero_components=("dataplane", "controlplane"),
    )
    assert baseline.cpu_cores_dataplane == 0.0 and baseline.mem_bytes_controlplane == 0.0
    assert baseline.cpu_cores_app == pytest.approx(0.5, rel=0.10)


@pytest.mark.services
def test_a_window_before_any_scrape_is_not_measured(prometheus: dict[str, Any]) -> None:
    end = prometheus["started"] - timedelta(minutes=5)
    usage = resource_usage(
        prometheus["url"], namespace="meshmark-istio", start=end - timedelta(seconds=30), end=end, step_s=1
    )
    assert usage.cpu_cores_app is None and usage.mem_bytes_app is None


def test_a_wrong_url_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    now = datetime.now(UTC)
    with pytest.raises(MeshmarkError) as caught:
        resource_usage(url, namespace="meshmark-istio", start=now - timedelta(minutes=2), end=now)
    message = str(caught.value)
    assert url in message and "container_cpu_usage_seconds_total" in message and "request failed" in message


def test_bad_inputs_are_refused_before_querying() -> None:
    now = datetime.now(UTC)
    with pytest.raises(MeshmarkError, match="shorter than two scrape intervals"):
        resource_usage(
            "http://127.0.0.1:9", namespace="n", start=now - timedelta(seconds=10), end=now, step_s=15
        )
    with pytest.raises(MeshmarkError, match="not a DNS-1123 label"):
        resource_usage(
            "http://127.0.0.1:9", namespace='x"}) or vector(1', start=now - timedelta(minutes=2), end=now
        )


def test_prometheus_url_from_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_MESHMARK_PROMETHEUS",
        json.dumps({"conn_type": "http", "host": "prometheus.monitoring", "port": 9090, "schema": "https"}),
    )
    assert prometheus_url_from_connection("meshmark_prometheus") == "https://prometheus.monitoring:9090"
    monkeypatch.setenv(
        "AIRFLOW_CONN_PROM_EXTRA", json.dumps({"conn_type": "http", "extra": {"url": "http://thanos:10902/"}})
    )
    assert prometheus_url_from_connection("prom_extra") == "http://thanos:10902"
    monkeypatch.setenv(
        "AIRFLOW_CONN_PROM_PATH",
        json.dumps({"conn_type": "http", "host": "gw", "port": 80, "extra": {"path": "/prometheus/"}}),
    )
    assert prometheus_url_from_connection("prom_path") == "http://gw:80/prometheus"
    with pytest.raises(MeshmarkError, match="'meshmark_no_such_conn'"):
        prometheus_url_from_connection("meshmark_no_such_conn")


def _phases(prom: dict[str, Any]) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
    """An idle stretch and a load window on either side of the exporter's switch, once both are
    fully scraped."""
    t0 = prom["t0"]
    ready_at = t0 + SWITCH_S + 10
    if time.time() < ready_at:
        time.sleep(ready_at - time.time())

    def at(offset: float) -> datetime:
        return datetime.fromtimestamp(t0 + offset, UTC)

    return (at(SWITCH_S - 7), at(SWITCH_S - 1)), (at(SWITCH_S + 1), at(SWITCH_S + 9))


def _mesh(name: str, kind: str, **extra: Any) -> MeshConfig:
    return MeshConfig(name=name, kind=kind, **extra)


@pytest.mark.services
def test_node_agents_are_attributed_on_the_benchmarks_nodes_minus_their_idle_usage(
    prometheus: dict[str, Any],
) -> None:
    (idle_start, idle_end), (start, end) = _phases(prometheus)
    layout = usage_layout(_mesh("istio-ambient", "istio-ambient"), "meshmark-istio-ambient")
    agents = node_agent_usage(
        prometheus["url"],
        layout.node_agents,
        benchmark_namespace="meshmark-istio-ambient",
        start=start,
        end=end,
        idle=(idle_start, idle_end),
        step_s=1,
    )
    # ztunnel on node-1 and node-2 only: node-3's busier ztunnel is someone else's
    assert agents.window_cpu_cores == pytest.approx(0.25 + 0.15, rel=0.10)
    assert agents.idle_cpu_cores == pytest.approx(0.01 + 0.02, rel=0.15)
    assert agents.cpu_cores == pytest.approx(0.37, rel=0.10)
    assert agents.window_mem_bytes == pytest.approx(65 * MIB, rel=0.05)
    assert agents.mem_bytes == pytest.approx((35 + 30 - 20 - 22) * MIB, rel=0.10)
    whole = node_agent_usage(
        prometheus["url"], layout.node_agents, benchmark_namespace="meshmark-istio-ambient",
        start=start, end=end, step_s=1,
    )  # fmt: skip
    assert whole.cpu_cores == pytest.approx(0.40, rel=0.10)  # no idle stretch: the whole usage

    usage = mesh_resource_usage(
        prometheus["url"], layout, start=start, end=end, idle=(idle_start, idle_end), step_s=1
    )
    assert usage.cpu_cores_app == pytest.approx(0.4, rel=0.10)  # the app, not the load generator
    assert usage.cpu_cores_dataplane == pytest.approx(0.37, rel=0.10)  # no proxy in the namespace
    assert usage.cpu_cores_controlplane == pytest.approx(0.11, rel=0.10)  # istiod + CNI agent, no ztunnel
    assert usage.mem_bytes_controlplane == pytest.approx(230 * MIB, rel=0.10)


@pytest.mark.services
def test_a_waypoint_counts_by_namespace_and_cilium_envoy_by_node(prometheus: dict[str, Any]) -> None:
    idle, (start, end) = _phases(prometheus)
    waypoint = usage_layout(
        _mesh("istio-waypoint", "istio-ambient", waypoint=True), "meshmark-istio-waypoint"
    )
    usage = mesh_resource_usage(prometheus["url"], waypoint, start=start, end=end, idle=idle, step_s=1)
    # the waypoint's istio-proxy (0.3) plus the ztunnels of node-1 (app) and node-2 (waypoint)
    assert usage.cpu_cores_dataplane == pytest.approx(0.3 + 0.37, rel=0.10)
    assert usage.mem_bytes_dataplane == pytest.approx((60 + 23) * MIB, rel=0.10)

    cilium = usage_layout(_mesh("cilium", "cilium"), "meshmark-cilium")
    usage = mesh_resource_usage(prometheus["url"], cilium, start=start, end=end, idle=idle, step_s=1)
    assert usage.cpu_cores_app == pytest.approx(0.45, rel=0.10)
    assert usage.cpu_cores_dataplane == pytest.approx(0.12 - 0.005, rel=0.10)  # cilium-envoy on node-1
    assert usage.mem_bytes_dataplane == pytest.approx(10 * MIB, rel=0.10)
    assert usage.cpu_cores_controlplane == pytest.approx(
        0.05 + 0.02, rel=0.10
    )  # agent + operator, no coredns


@pytest.mark.services
def test_sidecar_proxies_count_by_container(prometheus: dict[str, Any]) -> None:
    start, end = _window(prometheus)
    usage = mesh_resource_usage(
        prometheus["url"],
        usage_layout(_mesh("istio", "istio"), "meshmark-istio"),
        start=start,
        end=end,
        step_s=1,
    )
    assert usage.cpu_cores_dataplane == pytest.approx(0.2, rel=0.10)  # both istio-proxy sidecars
    assert usage.cpu_cores_controlplane == pytest.approx(0.11, rel=0.10)
    linkerd = mesh_resource_usage(
        prometheus["url"],
        usage_layout(_mesh("lkd", "linkerd"), "meshmark-lkd"),
        start=start,
        end=end,
        step_s=1,
    )
    assert linkerd.cpu_cores_app == pytest.approx(0.6, rel=0.10)
    assert linkerd.cpu_cores_dataplane == pytest.approx(0.12, rel=0.10)  # the app's and the client's proxy
    assert linkerd.mem_bytes_dataplane == pytest.approx(27 * MIB, rel=0.10)
    assert linkerd.cpu_cores_controlplane == pytest.approx(0.03, rel=0.10)


@pytest.mark.services
def test_without_a_node_label_node_agents_are_not_measured(prometheus: dict[str, Any]) -> None:
    idle, (start, end) = _phases(prometheus)
    layout = usage_layout(_mesh("istio-ambient", "istio-ambient"), "meshmark-istio-ambient")
    usage = mesh_resource_usage(
        prometheus["url"],
        layout,
        start=start,
        end=end,
        idle=idle,
        node_label="kubernetes_io_hostname",
        step_s=1,
    )
    # no series has that label: an unknown node is "not measured", never every agent in the cluster
    assert usage.cpu_cores_dataplane is None and usage.mem_bytes_dataplane is None
    assert usage.cpu_cores_app == pytest.approx(0.4, rel=0.10)
    with pytest.raises(MeshmarkError, match=r"idle window .* shorter than two scrape intervals"):
        mesh_resource_usage(
            prometheus["url"], layout, start=start, end=end, idle=(idle[1], idle[1]), step_s=1
        )
