"""Mean CPU and memory per component over a test window, from Prometheus's HTTP API.

Queries (one instant query per component and resource, evaluated at the window's end, W = window
length in seconds):

    CPU cores:  sum(rate(container_cpu_usage_seconds_total{SEL}[W s]))
    memory:     sum(avg_over_time(container_memory_working_set_bytes{SEL}[W s]))

rate() over the whole window is the counter's increase divided by W (handling counter resets), which
is the mean number of cores used in the window; avg_over_time is the mean of the scraped working-set
samples. Summing per component adds up the containers and pods in it. Selectors (SEL):

    app:          namespace="<mesh ns>", container=~"<app containers>"
    dataplane:    namespace="<mesh ns>", container=~"<proxy containers>"
    controlplane: namespace=~"<control-plane namespaces>", container!="", container!="POD"

cAdvisor also exports pod-level cgroup series (container="") and the pause container ("POD"); the
app and dataplane selectors name containers exactly, and the control-plane one excludes both, so
nothing is counted twice. An empty answer means "not measured" (None), never 0.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import requests

from meshmark_tasks.errors import MeshmarkError
from meshmark_tasks.measurement import ResourceUsage

CPU_METRIC = "container_cpu_usage_seconds_total"
MEMORY_METRIC = "container_memory_working_set_bytes"
DEFAULT_APP_CONTAINERS: tuple[str, ...] = ("app",)
DEFAULT_DATAPLANE_CONTAINERS: tuple[str, ...] = (
    "istio-proxy",
    "linkerd-proxy",
    "envoy-sidecar",
    "consul-dataplane",
)
DEFAULT_CONTROLPLANE_NAMESPACES: tuple[str, ...] = ("istio-system", "linkerd", "consul")
COMPONENTS = ("app", "dataplane", "controlplane")
_LABEL_VALUE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # container and namespace names are DNS labels


def _alternation(names: Sequence[str], what: str) -> str:
    if not names:
        raise MeshmarkError(f"prometheus: no {what} given")
    for name in names:
        if not _LABEL_VALUE.match(name):
            raise MeshmarkError(f"prometheus: {what} {name!r} is not a DNS-1123 label")
    return "|".join(names)


def component_selectors(
    namespace: str,
    app_containers: Sequence[str],
    dataplane_containers: Sequence[str],
    controlplane_namespaces: Sequence[str],
) -> dict[str, str]:
    ns = _alternation([namespace], "namespace")
    app = _alternation(app_containers, "app container")
    proxies = _alternation(dataplane_containers, "dataplane container")
    return {
        "app": f'namespace="{ns}",container=~"{app}"',
        "dataplane": f'namespace="{ns}",container=~"{proxies}"',
        "controlplane": (
            f'namespace=~"{_alternation(controlplane_namespaces, "control-plane namespace")}",'
            'container!="",container!="POD"'
        ),
    }


def cpu_query(selector: str, window_s: int) -> str:
    return f"sum(rate({CPU_METRIC}{{{selector}}}[{window_s}s]))"


def memory_query(selector: str, window_s: int) -> str:
    return f"sum(avg_over_time({MEMORY_METRIC}{{{selector}}}[{window_s}s]))"


def instant_query(prometheus_url: str, query: str, at: datetime, *, timeout_s: float = 30.0) -> float | None:
    """One scalar from an instant query: the single sample's value, or None for an empty vector."""
    endpoint = prometheus_url.rstrip("/") + "/api/v1/query"
    where = f"Prometheus at {prometheus_url}, query {query!r}"
    try:
        response = requests.post(
            endpoint, data={"query": query, "time": f"{at.timestamp():.3f}"}, timeout=timeout_s
        )
    except requests.RequestException as exc:
        raise MeshmarkError(f"{where}: request failed: {exc}") from None
    try:
        payload: dict[str, Any] = response.json()
    except ValueError:
        raise MeshmarkError(f"{where}: HTTP {response.status_code}, not a Prometheus API answer") from None
    if response.status_code != 200 or payload.get("status") != "success":
        problem = f"{payload.get('errorType', '')}: {payload.get('error', payload)}"
        raise MeshmarkError(f"{where}: HTTP {response.status_code} {problem}")
    data = payload.get("data") or {}
    if data.get("resultType") != "vector":
        raise MeshmarkError(f"{where}: expected a vector result, got {data.get('resultType')!r}")
    result = data.get("result") or []
    if not result:
        return None
    if len(result) != 1:
        raise MeshmarkError(f"{where}: expected one series after sum(), got {len(result)}")
    return float(result[0]["value"][1])


def resource_usage(
    prometheus_url: str,
    *,
    namespace: str,
    start: datetime,
    end: datetime,
    app_containers: Sequence[str] = DEFAULT_APP_CONTAINERS,
    dataplane_containers: Sequence[str] = DEFAULT_DATAPLANE_CONTAINERS,
    controlplane_namespaces: Sequence[str] = DEFAULT_CONTROLPLANE_NAMESPACES,
    step_s: float = 15.0,
    zero_components: Collection[str] = (),
) -> ResourceUsage:
    """Mean cores and working-set bytes of app, dataplane and control plane in [start, end].

    step_s is the Prometheus scrape interval: rate() needs two samples inside the window, so a window
    shorter than two steps cannot be measured and is refused. zero_components names components known
    not to exist (the baseline has no dataplane or control plane): they are 0.0, not queried.
    """
    unknown = set(zero_components) - set(COMPONENTS)
    if unknown:
        raise MeshmarkError(f"prometheus: unknown zero_components {sorted(unknown)}; expected {COMPONENTS}")
    window = (end - start).total_seconds()
    if window < 2 * step_s:
        raise MeshmarkError(
            f"prometheus: window {start.isoformat()} .. {end.isoformat()} is {window:g} s, shorter than two "
            f"scrape intervals ({step_s:g} s each): no rate can be measured"
        )
    window_s = int(window)  # PromQL durations are whole seconds here; drop the fraction, never widen
    selectors = component_selectors(namespace, app_containers, dataplane_containers, controlplane_namespaces)
    values: dict[str, float | None] = {}
    for component in COMPONENTS:
        if component in zero_components:
            values[f"cpu_cores_{component}"] = 0.0
            values[f"mem_bytes_{component}"] = 0.0
            continue
        selector = selectors[component]
        values[f"cpu_cores_{component}"] = instant_query(prometheus_url, cpu_query(selector, window_s), end)
        values[f"mem_bytes_{component}"] = instant_query(
            prometheus_url, memory_query(selector, window_s), end
        )
    return ResourceUsage(**values)


def prometheus_url_from_connection(conn_id: str) -> str:
    """Base URL of Prometheus from an Airflow connection.

    extra {"url": ...} wins; otherwise host (with or without a scheme), port, schema ("http" or
    "https", default http) and an optional extra "path" prefix (Prometheus behind a route prefix).
    """
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # AirflowNotFoundException and backend errors alike
        raise MeshmarkError(f"Airflow connection {conn_id!r}: cannot be read: {exc}") from None
    extra = conn.extra_dejson or {}
    if extra.get("url"):
        return str(extra["url"]).rstrip("/")
    host = conn.host
    if not host:
        raise MeshmarkError(f"Airflow connection {conn_id!r}: needs a host or an extra 'url' for Prometheus")
    if "://" in host:
        base = host.rstrip("/")
    else:
        scheme = conn.schema if conn.schema in ("http", "https") else "http"
        base = f"{scheme}://{host}"
    if conn.port:
        base = f"{base}:{conn.port}"
    path = str(extra.get("path") or "").strip("/")
    return f"{base}/{path}" if path else base
