"""resource_usage() against a real Prometheus server scraping a local container-metrics exporter.

The exporter (an http.server thread on 127.0.0.1) serves cAdvisor-shaped series: CPU counters that
grow at programmed rates per container and namespace, and constant working-set gauges, plus series
that must NOT be counted (pod-level cgroups with container="", the pause container, the load
generator's own container, another mesh's namespace). Prometheus (Debian package, installed by
scripts/install-prometheus.sh, started here with a 1 s scrape interval) scrapes it; the test waits for
a few scrapes and checks the means within 10 %.
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

from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.metrics.prometheus import prometheus_url_from_connection, resource_usage

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
        lines.append("# TYPE container_memory_working_set_bytes gauge")
        for ns, pod, container, _, mem in SERIES:
            labels = f'namespace="{ns}",pod="{pod}",container="{container}"'
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
        yield {"url": url, "started": started, "process": process}
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
    assert usage.cpu_cores_controlplane == pytest.approx(0.1, rel=0.10)  # istiod, not the pause container
    assert usage.mem_bytes_app == pytest.approx(100 * MIB, rel=0.10)
    assert usage.mem_bytes_dataplane == pytest.approx(70 * MIB, rel=0.10)
    assert usage.mem_bytes_controlplane == pytest.approx(200 * MIB, rel=0.10)


@pytest.mark.services
def test_missing_components_are_none_and_known_absent_ones_zero(prometheus: dict[str, Any]) -> None:
    start, end = _window(prometheus)
    linkerd = resource_usage(
        prometheus["url"],
        namespace="meshmark-linkerd",
        start=start,
        end=end,
        controlplane_namespaces=("linkerd",),
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
